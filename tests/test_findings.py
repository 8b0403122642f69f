"""Findings and the report: stable codes, one template per code, the JSON contract."""

from __future__ import annotations

import inspect
import re

import pytest

from kouminrenkei_sheets import validate, workflow
from kouminrenkei_sheets.findings import MESSAGES, Finding, Report, Severity, make_finding


def _codes_used() -> set[str]:
    source = inspect.getsource(validate)
    used = set(re.findall(r'\.add\(\s*"([a-z_.]+)"', source))
    used |= {v for k, v in vars(workflow).items() if k.isupper() and isinstance(v, str) and "." in v}
    return used


def test_every_code_used_has_a_template() -> None:
    used = _codes_used()
    assert len(used) > 30
    assert used <= set(MESSAGES), used - set(MESSAGES)


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_templates_have_a_known_severity_and_are_japanese(code: str) -> None:
    severity, template = MESSAGES[code]
    assert severity in Severity.ALL
    assert re.search(r"[ぁ-んァ-ヶ一-龠]", template)
    assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)?", code)


def test_make_finding_fills_the_template_and_shortens_the_value() -> None:
    f = make_finding(
        "date.invalid", sheet="提案", row=3, column="受付日", key="R7-0001", value="x" * 500, reason="理由"
    )
    assert f.message == "受付日を日付として読めません: 理由"
    assert f.severity == "error"
    assert f.value is not None and len(f.value) == 200 and f.value.endswith("…")


def test_report_counts_validity_and_json_shape() -> None:
    findings = [
        Finding("required", "error", "提案", 2, "件名", "R7-0001", None, "「件名」が空欄です。"),
        Finding("overdue", "warning", "照会", 3, "回答", "R7-0001-01", "未回答", "…"),
        Finding("text.platform_chars", "info", "提案", 4, "代表者氏名", "R7-0003", "髙橋", "…"),
    ]
    report = Report(findings)
    assert report.counts == {"error": 1, "warning": 1, "info": 1}
    assert not report.valid
    assert Report(findings[1:]).valid
    data = report.to_dict()
    assert list(data) == ["valid", "counts", "findings"]
    assert list(data["findings"][0]) == ["code", "severity", "sheet", "row", "column", "key", "value", "message"]
    assert data["findings"][1]["row"] == 3
    assert list(report.by_sheet()) == ["提案", "照会"]
    assert [f.code for f in report.where(sheet="提案")] == ["required", "text.platform_chars"]
