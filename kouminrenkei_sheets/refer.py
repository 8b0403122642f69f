"""``refer``: the desk refers a proposal to departments (or partners): one 照会 row per recipient.

Adds the rows, moves the proposal to 照会中 and logs both in 変更履歴, in one write; anything wrong
with the arguments stops it before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from . import clock
from .config import Config
from .departments import departments_from_table
from .errors import DataError, UsageError
from .schema import PROPOSALS, REFERRALS, Answer, Direction, HistoryKind, Status
from .store.base import (
    HISTORY_REF,
    MASTER_REF,
    PROPOSAL_REF,
    REFERRAL_REF,
    WRITE_LOCK_WAIT,
    AppendRows,
    CellValue,
    Change,
    RowKey,
    SetCell,
    Store,
    Table,
    conflict_history,
    history_row,
)
from .values import (
    ValueProblem,
    format_date,
    id_key,
    match_choice,
    normalize_text,
    parse_proposal_id,
    parse_referral_id,
    referral_id,
)

# Statuses a new referral moves to 照会中 (不成立 reopens when the desk refers it elsewhere).
MOVES_TO_REFERRED = (Status.RECEIVED, Status.CHECKING, Status.FAILED)


@dataclass(frozen=True)
class Referral:
    referral_id: str
    recipient: str
    referred_on: date
    due: date
    is_department: bool

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["referred_on"] = self.referred_on.isoformat()
        d["due"] = self.due.isoformat()
        return d


@dataclass
class ReferResult:
    proposal_id: str
    referrals: list[Referral] = field(default_factory=list)
    status_before: str = ""
    status_after: str = ""
    files_written: list[str] = field(default_factory=list)

    @property
    def status_changed(self) -> bool:
        return self.status_before != self.status_after

    def to_dict(self) -> dict[str, Any]:
        return {
            "proposal_id": self.proposal_id,
            "referrals": [r.to_dict() for r in self.referrals],
            "status_before": self.status_before,
            "status_after": self.status_after,
            "files_written": list(self.files_written),
        }


def refer(
    config: Config,
    store: Store,
    proposal_id: str,
    to: list[str],
    due: date | None = None,
    today: date | None = None,
    now: datetime | None = None,
) -> ReferResult:
    """Refer proposal ``proposal_id`` to each of ``to`` (課 names from the 担当課 master, or for a
    県→企業等 proposal also partner names). 回答期限 is ``due``, else today + desk.answer_days."""
    today = today or clock.today(config)
    now = now or clock.now(config)
    due = due or today + timedelta(days=config.desk.answer_days)
    if due < today:
        raise UsageError(f"回答期限 {format_date(due)} が照会日 {format_date(today)} より前です。")
    recipients = [r for r in dict.fromkeys(normalize_text(t) for t in to) if r]
    if not recipients:
        raise UsageError("照会先を --to で1つ以上指定してください（担当課マスタの課名）。")
    with store.lock(ttl_seconds=config.sync.lock_ttl, wait_seconds=WRITE_LOCK_WAIT):
        return _refer(config, store, proposal_id, recipients, due, today, now)


def _refer(
    config: Config, store: Store, proposal_id: str, recipients: list[str], due: date, today: date, now: datetime
) -> ReferResult:
    tables = store.read([PROPOSAL_REF, REFERRAL_REF, MASTER_REF])
    proposals, referrals = tables[PROPOSAL_REF], tables[REFERRAL_REF]
    if proposals is None or referrals is None:
        missing = PROPOSALS if proposals is None else REFERRALS
        raise UsageError(f"台帳にシート「{missing}」がありません。kouminrenkei init で作った台帳を指定してください。")
    wanted = id_key(proposal_id)
    proposal = next((r for r in proposals.rows if id_key(r.get("提案ID")) == wanted), None)
    if proposal is None or not wanted:
        raise UsageError(f"提案ID「{proposal_id}」は提案シートにありません。{_id_hint(proposal_id)}")
    pid = normalize_text(proposal.get("提案ID"))
    try:
        parse_proposal_id(pid)
    except ValueProblem as e:
        # A malformed ID typed in 提案: referral IDs are built from it, so it must be fixed first.
        raise DataError(
            f"{PROPOSALS}シート {proposal.number}行目の提案ID「{pid}」は形が正しくないため照会できません"
            f"（{e.reason}）。提案IDを直してから照会してください（kouminrenkei validate で確認できます）。"
        ) from None
    to_partners = normalize_text(proposal.get("提案方向")) == Direction.PREFECTURE_TO_PARTNER

    names = _recipients(recipients, list(departments_from_table(config, tables[MASTER_REF])), to_partners)
    branch, already = _earlier_referrals(referrals, wanted)
    for name, _ in names:
        if name in already:
            raise UsageError(f"提案 {pid} は既に「{name}」へ照会しています（照会ID {already[name]}）。")

    result = ReferResult(pid)
    rows: list[dict[str, CellValue]] = []
    history: list[dict[str, CellValue]] = []
    for name, is_department in names:
        branch += 1
        rid = referral_id(pid, branch)
        rows.append(
            {"照会ID": rid, "提案ID": pid, "照会先": name, "照会日": today, "回答期限": due, "回答": Answer.NONE}
        )
        result.referrals.append(Referral(rid, name, today, due, is_department))
        history.append(_history(config, now, REFERRALS, rid, "照会先", "", name))
    status = normalize_text(proposal.get("ステータス"))
    result.status_before = result.status_after = status
    # a 照会ID a person typed meanwhile is not given a second row
    changes: list[Change] = [AppendRows(REFERRAL_REF, tuple(rows), unique="照会ID")]
    if status in MOVES_TO_REFERRED:
        result.status_after = Status.REFERRED
        changes.append(
            SetCell(
                PROPOSAL_REF, RowKey("提案ID", pid), "ステータス", Status.REFERRED, expected=proposal.get("ステータス")
            )
        )
        history.append(_history(config, now, PROPOSALS, pid, "ステータス", proposal.get("ステータス"), Status.REFERRED))
    changes.append(AppendRows(HISTORY_REF, tuple(history)))
    applied = store.apply(changes)
    result.files_written = applied.written
    if applied.conflicts:  # a person typed the same 照会ID or changed ステータス while refer wrote
        store.apply([AppendRows(HISTORY_REF, conflict_history(applied.conflicts, actor=config.actor, now=now))])
        raise DataError(
            "書き込む間に台帳が変えられたため、次の書き込みはしていません（変更履歴に記録しました）: "
            + "、".join(c.describe() for c in applied.conflicts)
            + "。台帳を確かめてから照会し直してください。"
        )
    return result


def _recipients(recipients: Sequence[str], departments: list[str], to_partners: bool) -> list[tuple[str, bool]]:
    """Each recipient as the master names it (and True), or for a 県→企業等 proposal a partner as typed
    (and False); a name the master does not know is refused with the closest one and the list."""
    names: list[tuple[str, bool]] = []
    for r in recipients:
        try:
            names.append((match_choice(r, departments), True))
        except ValueProblem as e:
            if to_partners:
                names.append((r, False))
                continue
            hint = f"「{e.suggestion}」のことですか？" if e.suggestion else ""
            known = "、".join(departments) if departments else "（担当課マスタが空です）"
            raise UsageError(
                f"照会先「{r}」は担当課マスタにありません。{hint}登録されている課: {known}"
                "（企業等への照会は、提案方向が「県→企業等」の提案だけです）"
            ) from None
    return names


def _earlier_referrals(referrals: Table, wanted: str) -> tuple[int, dict[str, str]]:
    """The highest branch number of the proposal's referrals so far, and their 照会ID by recipient."""
    branch = 0
    already: dict[str, str] = {}
    for row in referrals.rows:
        rid = row.get("照会ID")
        try:
            parent, n = parse_referral_id(rid)
        except ValueProblem:
            parent, n = id_key(row.get("提案ID")), 0
        if id_key(parent) != wanted and id_key(row.get("提案ID")) != wanted:
            continue
        branch = max(branch, n)
        already.setdefault(normalize_text(row.get("照会先")), id_key(rid))
    return branch, already


def _id_hint(typed: str) -> str:
    """For an ID not found: what its form should be, when it is not even that."""
    try:
        parse_proposal_id(typed)
    except ValueProblem as e:
        return f"（{e.reason}）"
    return ""


def _history(config: Config, now: datetime, sheet: str, key: str, column: str, old: Any, new: Any) -> dict[str, Any]:
    return history_row(
        now=now, actor=config.actor, sheet=sheet, key=key, column=column, old=old, new=new, kind=HistoryKind.REFER
    )
