"""The process rules: transitions, roll-up from answers, what each status needs."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kouminrenkei_sheets import workflow
from kouminrenkei_sheets.schema import Answer, Method, Status

YES, NO, NONE, EXAMINING, DISCUSS = Answer.YES, Answer.NO, Answer.NONE, Answer.EXAMINING, Answer.DISCUSS


def test_every_status_has_transitions_to_known_statuses() -> None:
    assert set(workflow.TRANSITIONS) == set(Status.ALL)
    for targets in workflow.TRANSITIONS.values():
        assert set(targets) <= set(Status.ALL)


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        (Status.RECEIVED, Status.CHECKING, True),
        (Status.REFERRED, Status.COORDINATING, True),
        (Status.COORDINATING, Status.AGREED, True),
        (Status.FAILED, Status.REFERRED, True),
        (Status.ON_HOLD, Status.COORDINATING, True),
        (Status.COMPLETED, Status.REFERRED, False),
        (Status.RECEIVED, Status.COMPLETED, False),
        (Status.WITHDRAWN, Status.RECEIVED, False),
        (Status.IMPLEMENTING, Status.IMPLEMENTING, True),
    ],
)
def test_can_move(old: str, new: str, allowed: bool) -> None:
    assert workflow.can_move(old, new) is allowed


@pytest.mark.parametrize(
    ("status", "answers", "expected"),
    [
        (Status.REFERRED, [NONE, YES], Status.COORDINATING),
        (Status.REFERRED, [" 連携可 "], Status.COORDINATING),  # typed with spaces
        (Status.REFERRED, ["連携\u3000可"], Status.COORDINATING),  # an ideographic space inside
        (Status.REFERRED, [NONE, EXAMINING], None),
        (Status.REFERRED, [NO, NO], None),  # only a candidate for 不成立, never applied
        (Status.REFERRED, [], None),
        (Status.RECEIVED, [NONE], Status.REFERRED),
        (Status.CHECKING, [YES], Status.COORDINATING),  # both steps chain
        (Status.RECEIVED, [], None),
        (Status.COORDINATING, [YES], None),
        (Status.AGREED, [YES], None),
        (Status.ON_HOLD, [YES], None),  # the desk's decision, not moved by answers
        (Status.FAILED, [YES], None),
        (None, [YES], None),
        ("", [YES], None),
    ],
)
def test_rollup(status: str | None, answers: list[str], expected: str | None) -> None:
    assert workflow.rollup(status, answers) == expected


def test_rollup_treats_blank_answer_as_unanswered() -> None:
    assert workflow.rollup(Status.RECEIVED, [None, ""]) == Status.REFERRED
    assert workflow.rollup(Status.REFERRED, [None, ""]) is None


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([NO], True),
        ([NO, "連携不可 "], True),
        ([], False),
        ([NO, NONE], False),
        ([NO, YES], False),
        ([None], False),
    ],
)
def test_failure_candidate(answers: list[str | None], expected: bool) -> None:
    assert workflow.failure_candidate(answers) is expected


@settings(max_examples=50, deadline=None)
@given(status=st.sampled_from(Status.ALL), answers=st.lists(st.sampled_from(Answer.ALL), max_size=5))
def test_rollup_is_an_allowed_move_and_stable(status: str, answers: list[str]) -> None:
    new = workflow.rollup(status, answers)
    if new is not None:
        assert new != status
        assert new in Status.ALL
        # one rollup reaches the fixed point: applying it again changes nothing
        assert workflow.rollup(new, answers) is None
        # every single step on the way is allowed
        path = (
            [status, Status.REFERRED, new]
            if status != Status.REFERRED and new == Status.COORDINATING
            else [status, new]
        )
        assert all(workflow.can_move(a, b) for a, b in itertools.pairwise(path))


def _codes(problems: list[workflow.StatusProblem]) -> list[tuple[str, str]]:
    return [(p.code, p.severity) for p in problems]


@pytest.mark.parametrize(
    ("status", "answers", "kwargs", "expected"),
    [
        # 照会中 needs a referral
        (Status.REFERRED, [], {}, [(workflow.REFERRAL_NEEDED, "error")]),
        (Status.REFERRED, [NONE], {}, []),
        # 調整中 needs a 連携可
        (Status.COORDINATING, [NO, DISCUSS], {}, [(workflow.FEASIBLE_NEEDED, "error")]),
        (Status.COORDINATING, [], {}, [(workflow.FEASIBLE_NEEDED, "error")]),
        (Status.COORDINATING, [NO, YES], {}, []),
        # 不成立 needs every answer 連携不可
        (Status.FAILED, [NO, EXAMINING], {}, [(workflow.ALL_DECLINED_NEEDED, "error")]),
        (Status.FAILED, [NO, NO], {}, []),
        (Status.FAILED, [], {}, []),  # closed by the desk before any referral
        # 協定締結 needs a date and an agreement method
        (
            Status.AGREED,
            [YES],
            {"method": Method.NO_AGREEMENT, "agreement_date": None},
            [(workflow.AGREEMENT_DATE_NEEDED, "error"), (workflow.AGREEMENT_METHOD_NEEDED, "error")],
        ),
        (
            Status.AGREED,
            [YES],
            {"method": Method.PROJECT, "agreement_date": " "},
            [(workflow.AGREEMENT_DATE_NEEDED, "error")],
        ),
        (Status.AGREED, [YES], {"method": Method.COMPREHENSIVE, "agreement_date": "2025/4/1"}, []),
        # implementation under an agreement without its date
        (
            Status.IMPLEMENTING,
            [YES],
            {"method": Method.PROJECT},
            [(workflow.AGREEMENT_DATE_NEEDED, "warning")],
        ),
        (Status.IMPLEMENTING, [YES], {"method": Method.NO_AGREEMENT}, []),
        # skipped steps are warnings
        (Status.COMPLETED, [], {"method": Method.NO_AGREEMENT}, [(workflow.SKIPPED_STEP, "warning")]),
        (Status.IMPLEMENTING, [NO], {"method": Method.UNDECIDED}, [(workflow.SKIPPED_STEP, "warning")]),
        # unknown status: left to the choice check
        ("進行中", [], {}, []),
        (Status.RECEIVED, [], {}, []),
    ],
)
def test_status_problems(
    status: str, answers: list[str], kwargs: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    assert _codes(workflow.status_problems(status, answers, **kwargs)) == expected  # type: ignore[arg-type]


def test_skipped_steps_names_the_steps() -> None:
    assert workflow.skipped_steps(Status.COMPLETED, []) == [Status.REFERRED, Status.COORDINATING]
    assert workflow.skipped_steps(Status.AGREED, [NO]) == [Status.COORDINATING]
    assert workflow.skipped_steps(Status.AGREED, [YES]) == []
    problem = workflow.status_problems(Status.COMPLETED, [], method=Method.NO_AGREEMENT)[0]
    assert problem.params["steps"] == "照会中・調整中"
