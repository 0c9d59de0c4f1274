"""Forms of the disability and relief windows (WTForms), checked with the services' own rules as in
forms.py: the citizen-ID check (GB 11643), the disability certificate number whose ID part must be
the applicant's (第二代残疾人证), region codes (GB/T 2260). Amounts are typed in 元, as a clerk
reads them off a bank slip, and sent to the services in 分."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from wtforms import BooleanField, DateField, FieldList, Form, FormField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from services.common.errors import InvalidArgument
from services.common.identity.disability_certificate import DisabilityCertificateNumber
from services.common.identity.regions import RegionCode
from services.web.forms import REQUIRED, CitizenIdField, ConsoleForm, NameField, citizen_id_problem

MEMBER_ROWS = 4  # rows of the household table; empty rows are not members


def certificate_problem(value: str, holder: str, today: date) -> str | None:
    """Why `value` is not the applicant's second-generation certificate number; None if fine. With
    no (valid) applicant ID yet, only the number itself is checked."""
    holder_id = holder.strip() if holder.strip() and citizen_id_problem(holder, today) is None else None
    try:
        DisabilityCertificateNumber.parse(value.strip(), holder=holder_id, today=today)
    except InvalidArgument as problem:
        return "残疾人证号无效：" + "; ".join(_CERTIFICATE_WORDS.get(v.description, v.description)
                                            for v in problem.violations)
    return None


# The certificate check's messages a clerk meets most, in Chinese; others are shown as they come.
_CERTIFICATE_WORDS = {
    "the citizen ID in the certificate number is not the applicant's": "证号中的身份号码与申请人的不一致",
    "disability category (19th character) must be a digit 1-7": "第 19 位（残疾类别）须为 1 至 7",
    "disability grade (20th character) must be a digit 1-4": "第 20 位（残疾等级）须为 1 至 4",
}


def region_problem(value: str) -> str | None:
    try:
        RegionCode.parse(value.strip(), field="region")
    except InvalidArgument as problem:
        return "行政区划代码无效：" + "; ".join(v.description for v in problem.violations)
    return None


def fen(text: str | None) -> int:
    """An amount typed in 元 ("1234.5", "1,234.50") as 分; a blank is 0."""
    cleaned = (text or "").replace(",", "").replace("，", "").strip()
    if not cleaned:
        return 0
    return int((Decimal(cleaned) * 100).to_integral_value())


class YuanField(StringField):
    """An amount in 元, at most two decimals, not negative."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(label, validators=[Optional(), Length(max=16)], **kwargs)

    def pre_validate(self, form: Form) -> None:
        try:
            amount = Decimal((self.data or "0").replace(",", "").strip() or "0")
        except InvalidOperation:
            raise ValidationError("金额须为数字，单位：元，例如 800 或 650.50") from None
        if amount < 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValidationError("金额不能为负，最多两位小数")


class RegionField(StringField):
    def __init__(self, label: str, required: bool = True, **kwargs: Any) -> None:
        first = DataRequired(REQUIRED) if required else Optional()
        super().__init__(label, validators=[first, Length(max=12)], **kwargs)

    def pre_validate(self, form: Form) -> None:
        problem = region_problem(self.data or "") if (self.data or "").strip() else None
        if problem:
            raise ValidationError(problem)


class AccountField(StringField):
    def __init__(self, label: str = "收款银行账号", **kwargs: Any) -> None:
        super().__init__(label, validators=[DataRequired(REQUIRED), Length(max=40)],
                         description="12 至 30 位数字，可按 4 位分组输入", **kwargs)

    def pre_validate(self, form: Form) -> None:
        digits = (self.data or "").replace(" ", "")
        if digits and not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 30):
            raise ValidationError("银行账号须为 12 至 30 位数字")


class DisabilityApplicationForm(ConsoleForm):
    citizen_id = CitizenIdField("申请人 公民身份号码")
    name = NameField("申请人姓名")
    hukou_region = RegionField("户籍所在地 行政区划代码",
                               description="六位代码，例如 640104（兴庆区）；户籍在外省的，由户籍地审核")
    certificate_number = StringField("第二代残疾人证号", validators=[DataRequired(REQUIRED), Length(max=24)],
                                     description="20 位：申请人身份号码 + 残疾类别 + 残疾等级")
    certificate_valid_until = DateField("残疾人证有效期至", validators=[DataRequired("必填：残疾人证上的有效期")])
    household = SelectField("家庭经济状况", choices=[("dibao", "最低生活保障家庭"),
                                                    ("low_income", "低保边缘/低收入家庭"), ("none", "其他")])
    living = BooleanField("申请困难残疾人生活补贴")
    nursing = BooleanField("申请重度残疾人护理补贴")
    in_tekun_support = BooleanField("已纳入特困人员救助供养")
    work_injury_nursing_allowance = BooleanField("已领取工伤保险生活护理费")
    orphan_or_unsupported_child = BooleanField("孤儿或事实无人抚养儿童")
    similar_subsidy = YuanField("已领取的类似补贴（元/月，没有填 0）")
    long_term_care_months = StringField("需要长期照护的月数", validators=[Optional(), Length(max=4)],
                                        description="护理补贴要求 6 个月以上")
    bank_account = AccountField()
    request_id = HiddenField()

    def validate_certificate_number(self, field: StringField) -> None:
        problem = certificate_problem(field.data or "", self.citizen_id.data or "", self.today)
        if field.data and problem:
            raise ValidationError(problem)

    def validate_long_term_care_months(self, field: StringField) -> None:
        if (field.data or "").strip() and not (field.data or "").strip().isdigit():
            raise ValidationError("月数须为整数")

    def validate_nursing(self, field: BooleanField) -> None:
        if not (field.data or self.living.data):
            raise ValidationError("至少申请一项补贴")


class DibaoMemberForm(Form):
    """One row of the household; a row left blank is no member."""

    citizen_id = StringField("公民身份号码", validators=[Optional(), Length(max=32)])
    name = StringField("姓名", validators=[Optional(), Length(max=100)])
    relation = SelectField("与申请人关系", choices=[
        ("", "请选择"), ("self", "本人"), ("spouse", "配偶"), ("child", "子女"), ("parent", "父母"),
        ("grandchild", "孙子女"), ("grandparent", "祖父母"), ("sibling", "兄弟姐妹"), ("other", "其他共同生活人员")])
    hukou_region = RegionField("户籍地代码", required=False)
    earned_income = YuanField("工资性收入（元/月）")
    other_income = YuanField("其他收入（元/月）")
    disability_subsidy = YuanField("残疾人两项补贴（元/月，不计入收入）")
    assets = YuanField("存款等财产（元）")

    @property
    def blank(self) -> bool:
        return not ((self.citizen_id.data or "").strip() or (self.name.data or "").strip())


class DibaoApplicationForm(ConsoleForm):
    applicant_citizen_id = CitizenIdField("申请人 公民身份号码", description="申请人须是下列家庭成员之一")
    area = SelectField("城乡类别", choices=[("urban", "城市"), ("rural", "农村")])
    members = FieldList(FormField(DibaoMemberForm), min_entries=MEMBER_ROWS, max_entries=12)
    special = BooleanField("单人保（重病、重残等特殊情况）")
    unstable_income = BooleanField("收入不稳定（按近期平均计算）")
    bank_account = AccountField()
    request_id = HiddenField()

    def validate_members(self, field: FieldList) -> None:
        present = [row.form for row in field if not row.form.blank]
        if not present:
            raise ValidationError("请至少填写一名家庭成员（含申请人本人）")
        for row in present:
            if citizen_id_problem(row.citizen_id.data or "", self.today):
                row.citizen_id.errors = [*row.citizen_id.errors, citizen_id_problem(row.citizen_id.data or "",
                                                                                     self.today)]
            if not (row.name.data or "").strip():
                row.name.errors = [*row.name.errors, REQUIRED]
            if not row.relation.data:
                row.relation.errors = [*row.relation.errors, REQUIRED]
        if any(row.citizen_id.errors or row.name.errors or row.relation.errors for row in present):
            raise ValidationError("家庭成员信息有误，请按提示修改")
        applicant = (self.applicant_citizen_id.data or "").strip().upper()
        if applicant and applicant not in {(row.citizen_id.data or "").strip().upper() for row in present}:
            raise ValidationError("申请人须是家庭成员之一（关系选“本人”的一行）")


CAUSES = (("illness", "重大疾病"), ("traffic_accident", "交通事故"), ("fire", "火灾"),
          ("natural_disaster", "自然灾害"), ("sudden_hardship", "突发性生活困难"), ("other", "其他"))


class AssistanceForm(ConsoleForm):
    citizen_id = CitizenIdField("求助人 公民身份号码")
    name = NameField("求助人姓名")
    emergency_place = RegionField("急难发生地 行政区划代码",
                                  description="须在本地区内（国发〔2014〕47号：急难发生地救助）")
    emergency_on = DateField("急难发生日期", validators=[DataRequired("必填：急难发生的日期")])
    cause = SelectField("急难原因", choices=list(CAUSES))
    kind = SelectField("救助方式", choices=[("urgent", "急难型：先行救助，事后补齐证明"),
                                            ("expenditure", "支出型：按程序审批")])
    hukou_region = RegionField("户籍地代码（可不填）", required=False)
    urgent_amount = YuanField("先行救助 立即发放金额（元）",
                              description="急难型可当场发放，不超过本地先行救助上限；不发放留空")
    request_id = HiddenField()

    def validate_emergency_on(self, field: DateField) -> None:
        if field.data and field.data > self.today:
            raise ValidationError("急难发生日期不能晚于今天")

    def validate_urgent_amount(self, field: YuanField) -> None:
        if (field.data or "").strip() and fen(field.data) > 0 and self.kind.data != "urgent":
            raise ValidationError("只有急难型可以先行救助")
