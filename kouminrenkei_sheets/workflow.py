"""The desk's process (guidelines §3): statuses, allowed moves, what each status needs.

Pure domain rules on plain values. ``validate`` turns the problems found here into findings and
``sync`` uses :func:`rollup` to move a proposal's status when departments answer its referrals.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from .schema import PROPOSAL_SHEET, PROTECTABLE, Answer, Method, Status, choice_values
from .values import ValueProblem, date_or_none, fiscal_year, normalize_text, parse_proposal_id

if TYPE_CHECKING:
    from .store.base import Table

STATUSES: tuple[str, ...] = Status.ALL

# Where a proposal may go from each status. 保留 (on hold) can resume where it stopped; 不成立 can be
# reopened when the desk refers the proposal to another department.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.RECEIVED: (Status.CHECKING, Status.REFERRED, Status.FAILED, Status.WITHDRAWN, Status.ON_HOLD),
    Status.CHECKING: (Status.REFERRED, Status.FAILED, Status.WITHDRAWN, Status.ON_HOLD),
    Status.REFERRED: (Status.COORDINATING, Status.FAILED, Status.WITHDRAWN, Status.ON_HOLD),
    Status.COORDINATING: (
        Status.AGREED, Status.IMPLEMENTING, Status.FAILED, Status.WITHDRAWN, Status.ON_HOLD,
    ),
    Status.AGREED: (Status.IMPLEMENTING, Status.COMPLETED, Status.WITHDRAWN, Status.ON_HOLD),
    Status.IMPLEMENTING: (Status.COMPLETED, Status.WITHDRAWN, Status.ON_HOLD),
    Status.COMPLETED: (),
    Status.FAILED: (Status.REFERRED, Status.ON_HOLD),
    Status.WITHDRAWN: (),
    Status.ON_HOLD: (
        Status.RECEIVED, Status.CHECKING, Status.REFERRED, Status.COORDINATING,
        Status.AGREED, Status.IMPLEMENTING, Status.FAILED, Status.WITHDRAWN,
    ),
}  # fmt: skip

# Statuses that come after 調整中, hence need evidence that 照会中 and 調整中 happened. (照会中 and
# 調整中 themselves have errors of their own when that evidence is missing.)
_AFTER_COORDINATION = (Status.AGREED, Status.IMPLEMENTING, Status.COMPLETED)


def can_move(old: str, new: str) -> bool:
    """Whether the process allows going from ``old`` to ``new`` (staying put is always allowed)."""
    return old == new or new in TRANSITIONS.get(old, ())


def choice_key(value: object) -> str:
    """A status or answer as the rules compare it: NFKC, no whitespace; blank is ""."""
    if value is None:
        return ""
    try:
        return _choice_key(value)
    except TypeError:  # (unhashable: not a cell value, but never crash on it)
        return _choice_key.__wrapped__(value)


# A register holds a handful of statuses and answers, in every row. (typed: 1 and True are equal keys
# of a cache, not the same text)
@functools.lru_cache(maxsize=4096, typed=True)
def _choice_key(value: object) -> str:
    return "".join(unicodedata.normalize("NFKC", str(value)).split())


def answer_key(value: object) -> str:
    """An answer as the rules compare it; a blank answer means 未回答."""
    return choice_key(value) or Answer.NONE


def _answers(answers: Iterable[object]) -> list[str]:
    return [answer_key(a) for a in answers]


def is_final(answer: object) -> bool:
    """連携可 and 連携不可 close a referral; everything else still waits for the department."""
    return answer_key(answer) in Answer.FINAL


def failure_candidate(answers: Iterable[object]) -> bool:
    """Every referral answered 連携不可 (and there is at least one): the desk may close as 不成立.

    Never applied automatically: the desk may still refer the proposal to another department.
    """
    keys = _answers(answers)
    return bool(keys) and all(a == Answer.NO for a in keys)


def rollup(proposal_status: object, answers: Sequence[object]) -> str | None:
    """The status a proposal moves to because of its referrals' answers, or None to leave it.

    - 受付 / 内容確認中 with at least one referral → 照会中 (the desk has referred it);
    - 照会中 with at least one 連携可 → 調整中 (the first feasible answer starts coordination).
    Both steps chain, so 受付 with a 連携可 answer goes straight to 調整中. Other statuses are the
    desk's decisions and never move by themselves; 不成立 is only proposed (:func:`failure_candidate`).
    """
    status = choice_key(proposal_status)
    keys = _answers(answers)
    new = status
    if new in (Status.RECEIVED, Status.CHECKING) and keys:
        new = Status.REFERRED
    if new == Status.REFERRED and Answer.YES in keys:
        new = Status.COORDINATING
    return new if new != status else None


@dataclass(frozen=True)
class StatusProblem:
    """A way a proposal's status disagrees with its referrals or fields.

    ``code`` is the finding code, ``column`` the proposal column to mark; ``params`` fill the
    message template in findings.py.
    """

    code: str
    severity: str  # "error" | "warning" | "info"
    column: str
    params: dict[str, str] = field(default_factory=dict)


_STATUS = PROPOSAL_SHEET.column("ステータス").name
_METHOD = PROPOSAL_SHEET.column("連携手法").name
_SIGNED = PROPOSAL_SHEET.column("協定締結日").name

# Codes (stable: schedulers and tests depend on them)
REFERRAL_NEEDED = "status.referral"  # 照会中 without a referral
FEASIBLE_NEEDED = "status.feasible"  # 調整中 without a 連携可
ALL_DECLINED_NEEDED = "status.failed"  # 不成立 while some answer is not 連携不可
AGREEMENT_DATE_NEEDED = "status.agreement_date"  # 協定締結 without 協定締結日
AGREEMENT_METHOD_NEEDED = "status.agreement_method"  # 協定締結 with a 連携手法 that is no agreement
SKIPPED_STEP = "status.skipped"  # e.g. 実施中 with no referral at all


def status_problems(
    status: object,
    answers: Sequence[object],
    *,
    method: object = None,
    agreement_date: object = None,
) -> list[StatusProblem]:
    """What is wrong with ``status`` given the proposal's referral ``answers`` and agreement fields.

    ``agreement_date`` only matters for blank / not blank (the date itself is checked elsewhere).
    An unknown status gives no problem here: the choice check reports it.
    """
    st = choice_key(status)
    if st not in STATUSES:
        return []
    keys = _answers(answers)
    out: list[StatusProblem] = []
    col = _STATUS
    if st == Status.REFERRED and not keys:
        out.append(StatusProblem(REFERRAL_NEEDED, "error", col, {"status": st}))
    if st == Status.COORDINATING and Answer.YES not in keys:
        out.append(StatusProblem(FEASIBLE_NEEDED, "error", col, {"status": st}))
    if st == Status.FAILED:
        others = [a for a in keys if a != Answer.NO]
        if others:
            out.append(StatusProblem(ALL_DECLINED_NEEDED, "error", col, {"status": st, "answers": "、".join(others)}))
    method_key = choice_key(method)
    date_blank = agreement_date is None or (isinstance(agreement_date, str) and not agreement_date.strip())
    if st == Status.AGREED:
        if date_blank:
            out.append(StatusProblem(AGREEMENT_DATE_NEEDED, "error", _SIGNED, {"status": st}))
        if method_key not in Method.AGREEMENTS:
            out.append(
                StatusProblem(
                    AGREEMENT_METHOD_NEEDED,
                    "error",
                    _METHOD,
                    {
                        "status": st,
                        "method": method_key or "（空欄）",
                        "choices": "・".join(Method.AGREEMENTS),
                    },
                )
            )
    elif st in (Status.IMPLEMENTING, Status.COMPLETED) and method_key in Method.AGREEMENTS and date_blank:
        # Implementation under an agreement means the agreement was signed: its date is missing.
        out.append(StatusProblem(AGREEMENT_DATE_NEEDED, "warning", _SIGNED, {"status": st}))
    skipped = skipped_steps(st, keys)
    if skipped:
        out.append(StatusProblem(SKIPPED_STEP, "warning", col, {"status": st, "steps": "・".join(skipped)}))
    return out


def skipped_steps(status: object, answers: Sequence[object]) -> list[str]:
    """The process steps a status jumped over, judged from the referrals it has.

    A status after 調整中 with no referral at all skipped 照会中, and with no 連携可 skipped 調整中.
    (照会中 and 調整中 lacking their evidence are errors of their own, not skipped steps.)
    """
    st = choice_key(status)
    keys = _answers(answers)
    out: list[str] = []
    if st in _AFTER_COORDINATION:
        if not keys:
            out.append(Status.REFERRED)
        if Answer.YES not in keys:
            out.append(Status.COORDINATING)
    return out


@dataclass(frozen=True)
class Protection:
    """What a protection cell (アイデア保護, 交流の保護) protects. ``problem`` says why the cell could not be
    read; then every protectable column is protected, so nothing leaks on a misreading."""

    columns: frozenset[str]
    problem: str | None = None


def read_protection(value: object, protectable: Sequence[str] = PROTECTABLE) -> Protection:
    """The one reading of a protection cell, for every job: the columns it names, or all of them (fail
    closed) with the reason when an item is not a protectable column (a typo, a free-text note)."""
    try:  # (a register holds a handful of distinct protection cells: each is read once)
        return _read_protection_cached(type(value).__name__, value, tuple(protectable))
    except TypeError:  # an unhashable value: read afresh
        return _read_protection(value, protectable)


@functools.lru_cache(maxsize=4096)
def _read_protection_cached(_kind: str, value: object, protectable: tuple[str, ...]) -> Protection:
    # (the type is part of the key: 1 and 1.0 and True are equal but read differently)
    return _read_protection(value, protectable)


def _read_protection(value: object, protectable: Sequence[str]) -> Protection:
    from .values import ValueProblem, match_multi_choice

    try:
        return Protection(frozenset(match_multi_choice(value, protectable)))
    except ValueProblem as e:
        return Protection(frozenset(protectable), e.reason)


def protected_columns(value: object, protectable: Sequence[str] = PROTECTABLE) -> set[str]:
    """The proposal columns its アイデア保護 protects (fails closed, see :func:`read_protection`)."""
    return set(read_protection(value, protectable).columns)


# A proposal in one of these statuses waits for no answer: its open referrals are not overdue.
CLOSED_STATUSES: tuple[str, ...] = (Status.COMPLETED, *Status.ENDS)


def is_closed(status: object) -> bool:
    """完了, 不成立, 取下げ and 保留 close a proposal: nobody is chased for its referrals."""
    return choice_key(status) in CLOSED_STATUSES


def waits_for_answer(answer: object, proposal_status: object) -> bool:
    """A referral still owes an answer: none final yet, and its proposal is not closed."""
    return not is_final(answer) and not is_closed(proposal_status)


def due_date(due: date | None, due_blank: bool, referred: date | None, answer_days: int) -> date | None:
    """When a referral's answer is due: its 回答期限; when that cell is blank, 照会日 + the desk's answer
    days; None when neither can be read (a 回答期限 that is typed but unreadable has no fallback)."""
    if not due_blank:
        return due
    return referred + timedelta(days=answer_days) if referred is not None else None


def days_overdue(answer: object, proposal_status: object, due: date | None, today: date) -> int | None:
    """How many days a referral is past its due date, or None when it is not overdue (answered, its
    proposal closed, no due date, or not yet due). The one definition validate, notify and report share."""
    if due is None or not waits_for_answer(answer, proposal_status) or today <= due:
        return None
    return (today - due).days


def proposal_fiscal_year(received: object, proposal_id: object) -> int | None:
    """The 年度 a proposal counts in: that of its 受付日, else the one its 提案ID names (R7-0001 → 2025);
    None when neither can be read (reports say so rather than guess)."""
    day = date_or_none(received)
    if day is not None:
        return fiscal_year(day)
    try:
        return parse_proposal_id(proposal_id)[0]
    except ValueProblem:
        return None


def choice_list(table: Table | None, name: str, default: Sequence[str] | None = None) -> tuple[str, ...]:
    """The list ``name`` in force: the desk's 選択肢 tab (each item once, as normalised), else ``default``
    (the shipped list of that name when not given) where the tab or its column is missing or empty."""
    if table is not None and table.has(name):
        listed = tuple(dict.fromkeys(v for r in table.rows if (v := normalize_text(r.get(name)))))
        if listed:
            return listed
    return tuple(default) if default is not None else choice_values(name)
