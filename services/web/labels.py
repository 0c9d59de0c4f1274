"""The words a clerk reads: states, queues, case types and events in 简体中文, from the codes the
services answer with. A code without a label is shown as it is — never hidden."""

from __future__ import annotations

CASE_TYPES: dict[str, str] = {
    "marriage": "结婚登记",
    "divorce": "离婚登记",
    "reissue": "补领婚姻登记证",
    "status_query": "婚姻状况查询",
}

STATES: dict[str, str] = {
    "awaiting_registry": "等待全国登记库答复",
    "registered": "已登记",
    "refused": "不予登记",
    "dissolved_by_divorce": "已离婚解除",
    "void": "婚姻无效",
    "annulled": "婚姻已撤销",
    "cooling_off": "离婚冷静期",
    "awaiting_certificate_request": "等待申请发给离婚证",
    "certificate_requested": "已申请发证，待登记",
    "withdrawn": "已撤回",
    "deemed_withdrawn": "视为撤回",
    "terminated": "已终止",
    "awaiting_archive": "等待调取档案",
    "issued": "已补发",
    "answered": "已答复",
}

# The work queues of a marriage registration office, in the order a window works them.
QUEUES: dict[str, str] = {
    "awaiting_registry": "等待全国登记库答复",
    "cooling_off": "离婚冷静期中",
    "awaiting_certificate_request": "冷静期满，等待申请发证",
    "awaiting_divorce_registration": "已申请发证，待办理离婚登记",
    "awaiting_archive": "补领：等待外地档案",
}

EVENTS: dict[str, str] = {
    "MarriageApplicationReceived": "受理结婚登记申请",
    "PartyClaimGranted": "全国登记库：准予（一方）",
    "PartyClaimDenied": "全国登记库：拒绝（一方）",
    "PartyClaimReleased": "全国登记库：释放（一方）",
    "MarriageRegistered": "结婚登记完成",
    "MarriageRefused": "不予结婚登记",
    "DivorceProceedingOpened": "离婚程序开始",
    "DivorceProceedingClosed": "离婚程序结束",
    "MarriageDissolvedByDivorce": "婚姻因离婚解除",
    "CourtJudgmentRecorded": "记录法院判决",
    "DivorceApplicationReceived": "受理离婚登记申请",
    "DivorceWithdrawn": "撤回离婚登记申请",
    "CoolingOffEnded": "离婚冷静期届满",
    "DivorcePeriodEndRescheduled": "期限按新日历重算",
    "DivorceCertificateRequested": "申请发给离婚证",
    "DivorceRegistered": "离婚登记完成",
    "DivorceDeemedWithdrawn": "期满未申请，视为撤回",
    "DivorceTerminated": "离婚程序终止",
    "CertificateReissued": "补发证件",
    "ReissueRequested": "向外地请求档案",
    "ArchiveExtractReceived": "收到外地档案",
    "ReissueRefused": "不予补发",
    "MaritalStatusQueried": "婚姻状况查询（已记录）",
    "CertificateNumberIssued": "发放证件编号",
}

SEX: dict[str, str] = {"male": "男", "female": "女"}

# What a hand-off asks of the other region (its `work`), for the hand-offs page.
WORK: dict[str, str] = {
    "marriage.certificate_reissue": "补领婚姻登记证：调取档案",
}


def work(code: str) -> str:
    return WORK.get(code, code)


def state(code: str) -> str:
    return STATES.get(code, code)


def case_type(code: str) -> str:
    return CASE_TYPES.get(code, code)


def event(full_type: str) -> str:
    """An event's label from its full protobuf type name (e.g. tongban.marriage.v1.MarriageRegistered)."""
    short = full_type.rsplit(".", 1)[-1]
    return EVENTS.get(short, short)


def region(code: str) -> str:
    from services.common.identity.regions import REGION_NAMES

    name = REGION_NAMES.get(code, "")
    return f"{name}（{code}）" if name else code
