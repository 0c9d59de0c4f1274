"""The auditor's charts as the console draws them, without a browser or a stack (fast): bars to
scale, decided-late stacked after decided-on-time, months in order, and the same figures for the
table beside them."""

from __future__ import annotations

from services.web.pages_charts import BAR_WIDTH, adherence_chart, payments_chart


def test_deadline_bars_stack_late_after_on_time_to_the_scale_of_the_busiest_office() -> None:
    rows = [{"service": "残疾人两项补贴", "short": "两项补贴", "office": "640104-DPO-01", "on_time": 3, "late": 1,
             "open_on_time": 0, "open_overdue": 0, "rate": "75%"},
            {"service": "社会救助", "short": "社会救助", "office": "640104-MZ-01", "on_time": 2, "late": 0,
             "open_on_time": 1, "open_overdue": 1, "rate": "100%"}]
    chart = adherence_chart(rows)
    first, second = chart["bars"]
    assert (first["on_time_width"], first["late_width"]) == (BAR_WIDTH * 3 // 4, BAR_WIDTH // 4)
    assert first["late_x"] == 240 + first["on_time_width"]  # the late part starts where the on-time part ends
    assert (second["on_time_width"], second["late_width"], second["y"]) == (BAR_WIDTH // 2, 0, 28)
    assert adherence_chart([])["bars"] == [] and adherence_chart([])["height"] > 0


def test_payment_bars_run_oldest_month_first_to_the_scale_of_the_largest_run() -> None:
    rows = [{"service": "最低生活保障", "month": "2026-05", "total_fen": 50_000},
            {"service": "残疾人两项补贴", "month": "2026-04", "total_fen": 200_000}]
    chart = payments_chart(rows)
    assert [(b["month"], b["width"]) for b in chart["bars"]] == [("2026-04", BAR_WIDTH), ("2026-05", BAR_WIDTH // 4)]
