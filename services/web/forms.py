"""The console's forms (WTForms), checked on the server with the services' own rules — the same
citizen-ID check (GB 11643) and text hygiene the gRPC front door applies — so what a clerk is told
while typing is what the service would answer. The service still decides: a form that passes here
can be refused there (an age, the registry), and the page then shows the service's reason."""

from __future__ import annotations

from datetime import date
from typing import Any

from wtforms import BooleanField, Form, HiddenField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from services.common.errors import InvalidArgument
from services.common.identity.citizen_id import CitizenId
from services.common.identity.regions import office_region
from services.common.text import TextKind, clean
from services.web.session import NATIONAL_AUDITOR, ROLES

REQUIRED = "必填"


def citizen_id_problem(value: str, today: date) -> str | None:
    """Why `value` is not a citizen ID a window may accept, in words a clerk reads; None if fine."""
    try:
        CitizenId.parse(value.strip(), today=today)
    except InvalidArgument as problem:
        detail = "; ".join(v.description for v in problem.violations)
        return f"公民身份号码无效：{detail}"
    return None


def name_problem(value: str) -> str | None:
    _, problems = clean(value, TextKind.NAME)
    if not value.strip():
        return REQUIRED
    return f"姓名无效：{'; '.join(problems)}" if problems else None


def text_problem(value: str, kind: TextKind = TextKind.FREE_TEXT) -> str | None:
    _, problems = clean(value, kind)
    return f"内容无效：{'; '.join(problems)}" if problems else None


class CitizenIdField(StringField):
    """A citizen ID, checked (check character, birth date) against the console's today."""

    def __init__(self, label: str, today: date | None = None, **kwargs: Any) -> None:
        super().__init__(label, validators=[DataRequired(REQUIRED), Length(max=32)], **kwargs)
        self.today = today

    def pre_validate(self, form: Form) -> None:
        problem = citizen_id_problem(self.data or "", getattr(form, "today", None) or date.today())
        if self.data and problem:
            raise ValidationError(problem)


class NameField(StringField):
    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(label, validators=[DataRequired(REQUIRED), Length(max=100)], **kwargs)

    def pre_validate(self, form: Form) -> None:
        problem = name_problem(self.data or "")
        if self.data and problem:
            raise ValidationError(problem)


class FreeTextField(TextAreaField):
    def pre_validate(self, form: Form) -> None:
        problem = text_problem(self.data or "")
        if problem:
            raise ValidationError(problem)


class ConsoleForm(Form):
    """A form that knows the console's today (the service's clock may have been moved)."""

    def __init__(self, formdata: Any = None, *, today: date, **kwargs: Any) -> None:
        self.today = today
        super().__init__(formdata, **kwargs)


class SignInForm(Form):
    region = SelectField("所属地区", validators=[DataRequired(REQUIRED)])
    office = StringField("办公室代码", validators=[DataRequired(REQUIRED), Length(max=64)],
                         description="例如 640104-MRO-01（前六位为所在行政区划代码；国家审计填写本单位代码）")
    clerk_id = StringField("工号", validators=[DataRequired(REQUIRED), Length(max=64)])
    role = SelectField("角色", choices=[SelectChoice(code, label) for code, label in ROLES.items()],
                       default="registrar")
    next = HiddenField()

    def validate_office(self, field: StringField) -> None:
        if self.role.data == NATIONAL_AUDITOR:  # no region's office: the national auditor's own unit
            problem = text_problem(field.data or "", TextKind.CODE)
            if problem:
                raise ValidationError(problem)
            return
        home = office_region(field.data or "")
        if home is None:
            raise ValidationError("办公室代码须以六位行政区划代码开头，例如 640104-MRO-01")
        from services.common.identity.regions import RegionCode

        if self.region.data and not RegionCode(self.region.data).contains(home):
            raise ValidationError(f"办公室 {field.data} 不属于所选地区 {self.region.data}")

    def validate_clerk_id(self, field: StringField) -> None:
        problem = text_problem(field.data or "", TextKind.CODE)
        if problem:
            raise ValidationError(problem)


DECLARATIONS = (
    ("consents", "本人自愿结婚（民法典第1046条）"),
    ("no_spouse", "本人无配偶（第1042条）"),
    ("no_prohibited_kinship", "双方无禁止结婚的亲属关系（第1048条）"),
    ("appears_in_person", "本人亲自到场（第1049条）"),
)


class RegisterMarriageForm(ConsoleForm):
    a_citizen_id = CitizenIdField("男方/一方 公民身份号码")
    a_name = NameField("姓名")
    a_consents = BooleanField(DECLARATIONS[0][1])
    a_no_spouse = BooleanField(DECLARATIONS[1][1])
    a_no_prohibited_kinship = BooleanField(DECLARATIONS[2][1])
    a_appears_in_person = BooleanField(DECLARATIONS[3][1])
    b_citizen_id = CitizenIdField("女方/另一方 公民身份号码")
    b_name = NameField("姓名")
    b_consents = BooleanField(DECLARATIONS[0][1])
    b_no_spouse = BooleanField(DECLARATIONS[1][1])
    b_no_prohibited_kinship = BooleanField(DECLARATIONS[2][1])
    b_appears_in_person = BooleanField(DECLARATIONS[3][1])
    request_id = HiddenField()


class ReceiveDivorceForm(ConsoleForm):
    marriage_case_id = StringField("结婚登记案件编号", validators=[DataRequired(REQUIRED), Length(max=200)])
    a_citizen_id = CitizenIdField("一方 公民身份号码")
    a_name = NameField("姓名")
    b_citizen_id = CitizenIdField("另一方 公民身份号码")
    b_name = NameField("姓名")
    intention = FreeTextField("离婚意思表示", validators=[DataRequired(REQUIRED)],
                              default="双方自愿离婚")
    children_arrangement = FreeTextField("子女抚养")
    property_arrangement = FreeTextField("财产处理")
    debt_arrangement = FreeTextField("债务处理")
    signed_by_both = BooleanField("离婚协议书已由双方签名")
    both_appear_in_person = BooleanField("双方亲自到场")
    request_id = HiddenField()


class StatusQueryForm(ConsoleForm):
    citizen_id = CitizenIdField("被查询人 公民身份号码")
    reason = FreeTextField("查询事由（将被记录）", validators=[DataRequired(REQUIRED), Length(max=2000)])
    requesting_body = StringField("申请查询单位", validators=[Length(max=200)])
    request_id = HiddenField()


class WithdrawForm(ConsoleForm):
    citizen_id = CitizenIdField("撤回人 公民身份号码")
    reason = FreeTextField("撤回理由")
    request_id = HiddenField()


class ReissueForm(ConsoleForm):
    record_case_id = StringField("婚姻登记案件编号（可为外地登记）",
                                 validators=[DataRequired(REQUIRED), Length(max=200)])
    applicant_citizen_id = CitizenIdField("申请人 公民身份号码")
    reason = FreeTextField("补领原因", validators=[DataRequired(REQUIRED)], default="证件遗失")
    request_id = HiddenField()
