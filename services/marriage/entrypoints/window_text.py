"""What a clerk reads at the marriage window: a case, its history, a list of cases."""

from __future__ import annotations

from typing import Any

from services.stack.window import china_time, day, format_history, region_name


def format_answer(answer: Any, *, history: bool = False) -> str:
    if answer.DESCRIPTOR.name == "ListCasesResponse":
        return format_list(answer)
    return format_case(answer, history=history)


def format_case(case: Any, *, history: bool = False) -> str:
    lines = [f"{case.case_id}  [{case.case_type}]  {case.state.upper()}",
             f"  office {case.office_code}, region {case.region} {region_name(case.region)}; "
             f"version {case.version}; opened {china_time(case.opened_at)}, "
             f"updated {china_time(case.updated_at)} (China time)"]
    detail = case.WhichOneof("detail")
    if detail == "marriage":
        m = case.marriage
        for label, party in (("party A", m.party_a), ("party B", m.party_b)):
            lines.append(f"  {label}: {party.name} {party.citizen_id} ({party.sex}, born {day(party.birth_date)})")
            if party.declared_status:
                lines.append(f"    declares {party.declared_status}; national record: "
                             f"{party.status_on_record.replace('_', ' ') or '-'}"
                             + (f"; proof {party.proof.kind} {party.proof.number} ({party.proof.issued_by})"
                                if party.proof.kind else ""))
        lines.append(f"  applied on {day(m.application_date)}")
        if m.certificate_number:
            lines.append(f"  结婚证 {m.certificate_number}, registered on {day(m.registered_on)}")
        if m.refusal_rule:
            held = f" (held in region {m.holder_region} {region_name(m.holder_region)})" if m.holder_region else ""
            lines.append(f"  refused: {m.refusal_rule}{held}: {m.refusal_reason}")
        if m.open_divorce_case_id:
            lines.append(f"  divorce in progress: {m.open_divorce_case_id}")
        if m.dissolved_by_divorce_case_id:
            lines.append(f"  dissolved by divorce {m.dissolved_by_divorce_case_id} on {day(m.dissolved_on)}")
        if m.HasField("judgment"):
            j = m.judgment
            lines.append(f"  judgment: {j.judgment} by {j.court}, {j.judgment_number} of {day(j.judgment_date)}"
                         + (f", ground {j.ground}" if j.ground else ""))
    elif detail == "divorce":
        d = case.divorce
        lines.append(f"  marriage {d.marriage_case_id}")
        lines.append(f"  spouses: {d.spouse_a.name} {d.spouse_a.citizen_id}; {d.spouse_b.name} {d.spouse_b.citizen_id}")
        lines.append(f"  received {day(d.received_on)}; cooling-off until {day(d.cooling_off_last_day)}; "
                     f"certificate to be requested by {day(d.window_last_day)}"
                     + (" (provisional: beyond the published holiday calendar)" if d.provisional_calendar else ""))
        if d.record_region:
            lines.extend(_record_elsewhere(case))
        if d.certificate_number and case.state == "awaiting_dissolution":
            lines.append(f"  离婚证 {d.certificate_number} to be issued here once the marriage is dissolved")
        elif d.certificate_number:
            lines.append(f"  离婚证 {d.certificate_number}, registered on {day(d.registered_on)}")
        if d.withdrawn_by:
            lines.append(f"  withdrawn by {d.withdrawn_by}")
        if d.closing_reason:
            lines.append(f"  closed: {d.closing_reason}")
    elif detail == "reissue":
        r = case.reissue.issued
        lines.append(f"  for {r.applicant_citizen_id}, record {r.record_case_id} (asked: {r.requested_document}, "
                     f"reason {r.reason or '-'})")
        lines.append(f"  issued {r.issued_document} {r.certificate_number} on {day(r.issued_on)} "
                     f"(original {r.original_certificate_number})")
        if r.status_change:
            lines.append(f"  because {r.status_change}")
    elif detail == "status_query":
        a = case.status_query.answer
        source = a.source_region or case.region
        lines.append(f"  {a.citizen_id}: {a.status.upper()}"
                     + (f" since {day(a.since)}" if a.since.year else "")
                     + (f", record {a.marriage_case_id}" if a.marriage_case_id else "")
                     + f" (source: region {source} {region_name(source)})")
        lines.append(f"  asked by {a.requesting_body or '-'} for: {a.reason}")
    if history:
        lines.extend(format_history(case))
    return "\n".join(lines)


def _record_elsewhere(case: Any) -> list[str]:
    """Where the marriage record is, for a divorce received here (国务院令第804号, 多地联办), and what
    happens next."""
    d = case.divorce
    where = f"region {d.record_region} {region_name(d.record_region)}"
    lines = [f"  marriage recorded in {where}: this office runs the cooling-off, withdrawal and certificate "
             "request; that region checks the spouses against its record and dissolves the marriage"]
    if case.state == "refused":
        lines.append(f"  {where} refused the application (不予登记)")
    elif case.state == "awaiting_dissolution":
        lines.append(f"  next: {where} dissolves the marriage; the divorce is registered here when it answers")
    elif d.record_step == "awaiting_record_check":
        lines.append(f"  next: {where} checks the record; the certificate can be requested once it confirms")
    elif d.record_step == "record_confirmed" and case.state not in ("registered", "withdrawn", "deemed_withdrawn",
                                                                     "terminated"):
        lines.append(f"  {where} confirmed the record and opened the proceeding on the marriage")
    return lines


def format_list(page: Any) -> str:
    if not page.cases:
        return "no cases"
    lines = [f"{'case':<44}{'type':<14}{'state':<30}{'due':<12}parties"]
    for c in page.cases:
        lines.append(f"{c.case_id:<44}{c.case_type:<14}{c.state:<30}{day(c.due_on):<12}{', '.join(c.party_names)}")
    if page.next_page_token:
        lines.append(f"more: --page-token {page.next_page_token}")
    return "\n".join(lines)


