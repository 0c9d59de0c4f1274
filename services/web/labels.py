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

EVENTS.update({
    # 残疾人两项补贴 (tongban.disability.v1)
    "ApplicationReceived": "受理两项补贴申请",
    "SubsidyRefused": "不予发放（一项补贴）",
    "StageStarted": "进入审核环节",
    "StageWentOverdue": "审核环节逾期",
    "StageCompleted": "审核环节完成",
    "HouseholdStatusConfirmed": "确认家庭经济状况",
    "ApplicationRefused": "不予发放",
    "ApplicationApproved": "审定通过",
    "EntitlementGranted": "开始发放补贴",
    "EntitlementStopped": "停发补贴",
    "EntitlementResumed": "恢复发放补贴",
    "CertificateRenewed": "残疾人证换发",
    "SubsidyClaimGranted": "全国登记库：准予（一项补贴）",
    "SubsidyClaimDenied": "全国登记库：拒绝（一项补贴）",
    "SubsidyClaimReleased": "全国登记库：释放（一项补贴）",
    "DataMatchReceived": "收到部门比对信息",
    "ApplicationForwarded": "异地代收：转交户籍地",
    "ReceivedByHandoff": "户籍地收到转交申请",
    "HukouRegionDecided": "户籍地作出决定",
    "ForwardRefused": "户籍地不予接收",
    "ApplicantInformed": "告知申请人结果",
    "StageDueRescheduled": "期限按新日历重算",
    # 最低生活保障、临时救助 (tongban.relief.v1)
    "DibaoApplicationReceived": "收到低保申请",
    "HouseholdMemberDeclared": "申报家庭成员",
    "DibaoApplicationAccepted": "受理低保申请",
    "InvestigationStarted": "开始家庭经济状况调查",
    "HomeVisitRecorded": "记录入户调查",
    "DemocraticReviewRecorded": "记录民主评议",
    "TownshipOpinionGiven": "乡镇（街道）提出审核意见",
    "PublicNoticeStarted": "开始公示",
    "ObjectionRaised": "收到公示异议",
    "ObjectionAnswered": "答复公示异议",
    "PublicNoticeEnded": "公示期满",
    "DibaoGranted": "批准低保",
    "DibaoRefused": "不予批准低保",
    "RefusalNotified": "书面告知不予批准理由",
    "MemberEnteredDibao": "成员纳入低保",
    "MemberLeftDibao": "成员退出低保",
    "IncomeChangeRecorded": "记录收入变化",
    "ReviewRecorded": "记录复核",
    "HouseholdReviewTriggered": "触发家庭复核",
    "TaperOffStarted": "开始渐退",
    "DibaoEnded": "低保终止",
    "EconomicCheckRequested": "请求外地协助核对家庭经济状况",
    "EconomicCheckAnswered": "外地答复家庭经济状况核对",
    "EconomicCheckRefused": "外地不予协助核对",
    "MemberPlaceGranted": "全国登记库：准予（一名成员）",
    "MemberPlaceDenied": "全国登记库：拒绝（一名成员）",
    "TimeLimitOverrun": "办理期限逾期",
    "HouseholdViewed": "查阅家庭信息（已记录）",
    "AssistanceApplicationReceived": "受理临时救助申请",
    "UrgentPaymentMade": "先行救助：立即发放",
    "ProofCompleted": "补齐证明材料",
    "ReferredToRescueAgency": "转介救助管理机构",
    "AssistanceGranted": "批准临时救助",
    "AssistanceRefused": "不予临时救助",
})

# The two newer services' words: case types, states (their codes overlap marriage's: "refused"
# reads differently per service), stages and work queues.
SERVICE_CASE_TYPES: dict[str, str] = {
    "disability": "残疾人两项补贴",
    "dibao": "最低生活保障",
    "assistance": "临时救助",
}

DISABILITY_STATES: dict[str, str] = {
    "forwarding": "异地代收，转交户籍地",
    "under_review": "审核中",
    "approved": "已审定发放",
    "refused": "不予发放",
}

# 国发〔2015〕52号 三: the domestic flow's stages, each with its working-day limit; the last two are
# the receiving window's part when the 户籍 is in another province (异地代收代办).
DISABILITY_STAGES: dict[str, str] = {
    "township_review": "乡镇（街道）受理审核",
    "certificate_check": "县级残联审核（残疾类别、等级）",
    "approval": "县级民政部门审定",
    "forwarding": "异地代收：待转交户籍地",
    "informing": "异地代收：待告知申请人",
}

HOUSEHOLDS: dict[str, str] = {"dibao": "最低生活保障家庭", "low_income": "低保边缘/低收入家庭", "none": "其他"}

SUBSIDIES: dict[str, str] = {"living": "困难残疾人生活补贴", "nursing": "重度残疾人护理补贴"}

RELIEF_STATES: dict[str, str] = {
    "received": "已收到申请，待受理",
    "accepted": "已受理",
    "investigating": "家庭经济状况调查中",
    "reviewed": "已调查评议，待乡镇意见",
    "in_notice": "公示中",
    "awaiting_decision": "待县级审批",
    "granted": "已批准",
    "refused": "不予批准",
    "refusal_notified": "已书面告知不予批准",
    "tapering": "渐退期",
    "ended": "已终止",
    "urgent_paid": "已先行救助，待补齐证明",
    "proof_completed": "证明已补齐，待审批",
    "referred": "已转介救助管理机构",
}

RELIEF_QUEUES: dict[str, str] = {
    "dibao_to_accept": "低保：待受理",
    "dibao_in_procedure": "低保：调查评议中",
    "dibao_in_notice": "低保：公示中",
    "dibao_to_decide": "低保：待审批",
    "dibao_refusals_to_notify": "低保：待书面告知不予批准",
    "assistance_open": "临时救助：待审批",
    "assistance_awaiting_proof": "临时救助：先行救助待补证明",
    "overdue": "逾期",
}

RELIEF_LIMITS: dict[str, str] = {
    "investigation": "调查", "decision": "审批", "proof": "补齐证明", "refusal_notice": "书面告知", "notice": "公示",
}

RELATIONS: dict[str, str] = {
    "self": "本人", "spouse": "配偶", "child": "子女", "parent": "父母", "grandchild": "孙子女",
    "grandparent": "祖父母", "sibling": "兄弟姐妹", "other": "其他共同生活人员",
}

SEX: dict[str, str] = {"male": "男", "female": "女"}

# What a hand-off asks of the other region (its `work`), for the hand-offs page.
WORK: dict[str, str] = {
    "marriage.certificate_reissue": "补领婚姻登记证：调取档案",
    "disability.two_subsidies": "残疾人两项补贴：异地代收，转户籍地审核",
    "relief.family_economic_check": "低保：协助核对家庭经济状况（多地联办）",
}


def work(code: str) -> str:
    return WORK.get(code, code)


def state(code: str, service: str = "marriage") -> str:
    table = {"disability": DISABILITY_STATES, "relief": RELIEF_STATES}.get(service, STATES)
    return table.get(code, code)


def case_type(code: str) -> str:
    return CASE_TYPES.get(code) or SERVICE_CASE_TYPES.get(code, code)


def stage(code: str) -> str:
    return DISABILITY_STAGES.get(code, code)


def yuan(fen: int) -> str:
    """An amount in fen as a clerk reads it: 1234.50 元."""
    return f"{fen / 100:.2f} 元"


def service_of(case_id: str) -> str:
    """Which service holds a case, from its id's kind (services/common/identity/case_ids.py)."""
    kind = case_id.split("-", 1)[0]
    return {"disability": "disability", "dibao": "relief", "assistance": "relief"}.get(kind, "marriage")


def event(full_type: str) -> str:
    """An event's label from its full protobuf type name (e.g. tongban.marriage.v1.MarriageRegistered)."""
    short = full_type.rsplit(".", 1)[-1]
    return EVENTS.get(short, short)


def region(code: str) -> str:
    from services.common.identity.regions import REGION_NAMES

    if code == "national":  # the national identity provider's auditors (services/common/trust/national.py)
        return "全国（国家审计）"
    name = REGION_NAMES.get(code, "")
    return f"{name}（{code}）" if name else code
