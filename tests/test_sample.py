"""The sample register (demo, benchmarks) is realistic: valid to the validator, messy only in accepted ways."""

from __future__ import annotations

from datetime import date

import pytest

from kouminrenkei_sheets.config import Config
from kouminrenkei_sheets.sample_data import corporate_number, generate, write_sample
from kouminrenkei_sheets.schema import REGISTER_SHEETS, Status
from kouminrenkei_sheets.store.memory import MemoryStore
from kouminrenkei_sheets.validate import validate
from kouminrenkei_sheets.values import check_corporate_number, fiscal_year, parse_date

TODAY = date(2026, 11, 28)


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_sample_has_no_validation_errors(seed: int) -> None:
    store = MemoryStore()
    store.create_book(None, REGISTER_SHEETS)
    write_sample(store, generate(60, seed=seed, today=TODAY))
    report = validate(Config(), store, write_back=False, today=TODAY)
    assert report.counts["error"] == 0, [f.message for f in report.findings if f.severity == "error"]


def test_sample_spans_three_fiscal_years_and_many_statuses() -> None:
    sample = generate(60, seed=7, today=TODAY)
    years = {fiscal_year(parse_date(p["受付日"])) for p in sample.proposals}
    assert years == {2024, 2025, 2026}
    statuses = {str(p["ステータス"]).strip() for p in sample.proposals}
    assert {Status.REFERRED, Status.AGREED, Status.COMPLETED} <= statuses
    answers = {r["回答"] for r in sample.referrals}
    assert {"連携可", "連携不可"} <= answers
    assert len(sample.departments) == 12
    # some entries are typed the ways staff type them
    assert any(isinstance(p["受付日"], str) for p in sample.proposals)


def test_sample_is_deterministic() -> None:
    assert generate(20, seed=3, today=TODAY) == generate(20, seed=3, today=TODAY)


def test_generated_corporate_numbers_pass_the_check_digit() -> None:
    import random

    rng = random.Random(0)
    for _ in range(200):
        number = corporate_number(rng)
        assert check_corporate_number(number) == number
