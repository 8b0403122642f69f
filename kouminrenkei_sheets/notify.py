"""E-mail notices: each department hears of its new referrals and of answers due soon or overdue,
and the desk gets a weekly summary. What was sent is logged in the hidden ``_notify`` tab so that
no notice goes out twice, and no protected field or partner's personal data ever goes into a mail.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from . import clock
from .config import Config, NotifySettings
from .departments import Department, departments_from_table
from .errors import EXIT_BUSY, EXIT_DATA, EXIT_OK, ConfigError, ServiceError, StoreError
from .messages import os_error_text
from .schema import (
    NOTIFY_SHEET,
    NOTIFY_STATE,
    PROPOSALS,
    REFERRALS,
    Answer,
    Status,
)
from .store.base import (
    MASTER_REF,
    PROPOSAL_REF,
    REFERRAL_REF,
    WRITE_LOCK_WAIT,
    AppendRows,
    CellValue,
    Change,
    EnsureSheet,
    Row,
    SheetRef,
    Store,
    Table,
)
from .values import (
    ValueProblem,
    check_email,
    date_or_none,
    is_blank,
    normalize_text,
    parse_date,
    to_wareki,
)
from .workflow import answer_key, protected_columns, waits_for_answer
from .workflow import due_date as workflow_due_date

NOTIFY_REF = SheetRef(NOTIFY_STATE)
LOCK_TTL_SECONDS = 600

HIDDEN_SUBJECT = "（保護対象のため非表示）"
PARTNERS_LABEL = "企業等・その他"
SUBJECT_PREFIX = "【公民連携デスク】"
# Proposals in these statuses need nothing more from a department.


class Kind:
    """種類 in the ``_notify`` log: why a referral was in a mail."""

    NEW = "新規"
    DUE_SOON = "期限間近"
    OVERDUE = "期限超過"
    SUMMARY = "週次"


# ---------------------------------------------------------------- settings
def is_configured(config: Config) -> bool:
    """Whether the config has a ``[notify]`` section at all (``run`` skips notify without one)."""
    return config.has("notify")


def notify_settings(config: Config, *, need_server: bool = True) -> NotifySettings:
    """``[notify]``, read and checked with the whole config; sending needs a server and a From address.

    Without ``need_server`` (a dry run) the SMTP server and sender may be missing: nothing is sent.
    """
    if need_server:
        if not is_configured(config):
            raise ConfigError(
                f"{config.where} に [notify] がありません。"
                "SMTP サーバー（host, port, security）と送信元（from）を書いてください。"
            )
        config.notify.require_server(config.where)
    return config.notify


# ---------------------------------------------------------------- what goes into a mail
@dataclass(frozen=True)
class Item:
    """One referral line of a department notice (only what may leave the desk)."""

    kind: str  # Kind.NEW / DUE_SOON / OVERDUE
    referral_id: str
    proposal_id: str
    subject: str  # 件名, or HIDDEN_SUBJECT when the proposal protects it
    referred: date | None
    due: date | None
    answer: str
    key: str  # 通知キー in the log

    def line(self, today: date) -> str:
        parts = [f"・{self.referral_id}　件名: {self.subject}"]
        if self.kind == Kind.NEW and self.referred:
            parts.append(f"照会日: {to_wareki(self.referred)}")
        if self.due:
            when = f"回答期限: {to_wareki(self.due)}"
            days = (self.due - today).days
            if days < 0:
                when += f"（{-days}日超過）"
            elif days == 0:
                when += "（本日）"
            elif self.kind != Kind.NEW:
                when += f"（あと{days}日）"
            parts.append(when)
        if self.kind != Kind.NEW and self.answer not in ("", Answer.NONE):
            parts.append(f"回答: {self.answer}")
        return "　".join(parts)


@dataclass
class Notice:
    """One e-mail: to a department, or the desk's weekly summary."""

    kind: str  # "department" or "summary"
    to: str
    subject: str
    body: str
    department: str = ""
    items: list[Item] = field(default_factory=list)
    key: str = ""  # summary: 週次:YYYY-Www
    sent: bool = False
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "department": self.department,
            "to": self.to,
            "subject": self.subject,
            "referrals": [{"id": i.referral_id, "kind": i.kind} for i in self.items],
            "sent": self.sent,
            "error": self.error,
        }


@dataclass
class NotifyResult:
    dry_run: bool = False
    notices: list[Notice] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    postponed: str = ""  # why nothing was sent this time (the register is open in Excel …)
    written: list[str] = field(default_factory=list)

    @property
    def sent(self) -> list[Notice]:
        return [n for n in self.notices if n.sent]

    @property
    def failed(self) -> list[Notice]:
        return [n for n in self.notices if n.error]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "notices": [n.to_dict() for n in self.notices],
            "warnings": list(self.warnings),
            "postponed": self.postponed,
            "written": list(self.written),
        }

    @property
    def exit_code(self) -> int:
        """3 (busy) when nothing was sent this time, 1 (data) when an address was refused, else 0."""
        if self.postponed:
            return EXIT_BUSY
        return EXIT_DATA if self.failed else EXIT_OK

    def summary(self) -> str:
        if self.postponed:
            return f"通知は送りませんでした: {self.postponed}"
        if self.dry_run:
            return f"{len(self.notices)} 通のメールを送る予定です（--dry-run のため送信しません）。"
        text = f"{len(self.sent)} 通のメールを送りました。"
        if self.failed:
            text += f" {len(self.failed)} 通は送れませんでした。"
        return text


# ---------------------------------------------------------------- the job
def notify(config: Config, store: Store, *, dry_run: bool = False, now: datetime | None = None) -> NotifyResult:
    """Send the notices that are due now; ``dry_run`` shows them without sending or writing."""
    settings = notify_settings(config, need_server=not dry_run)
    now = now or clock.now(config)
    result = NotifyResult(dry_run=dry_run)
    if dry_run:
        result.notices = plan_notices(config, store, settings, now, result.warnings)
        return result
    owner = store.busy_owner(None)
    if owner is not None:
        # Sending without being able to log it would send the same mails again on the next run.
        who = f"{owner}さん" if owner else "だれか"  # an owner file without a name
        result.postponed = f"{store.display_name(None)}を{who}が開いているため、次回に送ります。"
        return result
    with store.lock(ttl_seconds=LOCK_TTL_SECONDS, wait_seconds=WRITE_LOCK_WAIT):
        result.notices = plan_notices(config, store, settings, now, result.warnings)
        if not result.notices:
            return result
        try:
            send_notices(result.notices, settings, config, now)
        finally:
            changes = log_changes(result.sent, now)
            if changes:
                result.written = store.apply(changes).written
    return result


def plan_notices(
    config: Config, store: Store, settings: NotifySettings, now: datetime, warnings: list[str]
) -> list[Notice]:
    """Every mail that should go out now and has not gone out before."""
    tables = store.read([PROPOSAL_REF, REFERRAL_REF, MASTER_REF, NOTIFY_REF])
    referrals, register = tables[REFERRAL_REF], tables[PROPOSAL_REF]
    if referrals is None or register is None:
        raise StoreError(f"{store.display_name(None)} に「{PROPOSALS}」か「{REFERRALS}」のシートがありません。")
    proposals = register.by_key("提案ID")
    departments = departments_from_table(config, tables[MASTER_REF])
    sent_table = tables[NOTIFY_REF]
    log = _SentLog(sent_table.rows if sent_table is not None else [])
    today = now.date()

    by_department: dict[str, list[Item]] = {}
    for row in referrals.rows:
        dept = normalize_text(row.get("照会先"))
        rid = normalize_text(row.get("照会ID"))
        if dept not in departments or not rid:
            continue  # a partner (県→企業等), or a row validation will flag
        pid = normalize_text(row.get("提案ID"))
        proposal = proposals.get(pid)
        if not waits_for_answer(row.get("回答"), proposal.get("ステータス") if proposal is not None else None):
            continue
        for item in _items(row, rid, pid, dept, proposal, config, settings, today, log):
            by_department.setdefault(dept, []).append(item)

    notices: list[Notice] = []
    for name, items in by_department.items():
        department = departments[name]
        address = _department_address(department, warnings)
        if address:
            notices.append(_department_notice(department, address, items, config, store, today))
    summary = _summary_notice(config, settings, register, referrals, departments, log, now)
    if summary is not None:
        notices.append(summary)
    return notices


class _SentLog:
    """The ``_notify`` tab as the decisions need it."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self.last: dict[str, datetime] = {}
        for row in rows:
            key = normalize_text(row.get("通知キー"))
            if not key:
                continue
            when = row.get("送信日時")
            stamp = when if isinstance(when, datetime) else _as_datetime(when)
            if key not in self.last or stamp > self.last[key]:
                self.last[key] = stamp

    def sent(self, key: str) -> bool:
        return key in self.last

    def days_since(self, key: str, today: date) -> int | None:
        return (today - self.last[key].date()).days if key in self.last else None


def _as_datetime(value: CellValue) -> datetime:
    try:
        d = parse_date(value)
    except ValueProblem:
        return datetime.min  # a log row we cannot date still counts as sent
    return datetime(d.year, d.month, d.day)


def _items(
    row: Row,
    rid: str,
    pid: str,
    dept: str,
    proposal: Row | None,
    config: Config,
    settings: NotifySettings,
    today: date,
    log: _SentLog,
) -> list[Item]:
    referred = date_or_none(row.get("照会日"))
    due = due_date(row, config)
    answer = answer_key(row.get("回答"))
    subject = safe_subject(proposal)

    def item(kind: str, key: str) -> Item:
        return Item(kind, rid, pid, subject, referred, due, answer, key)

    out: list[Item] = []
    if answer == Answer.NONE:
        key = f"{Kind.NEW}:{dept}:{rid}"
        if not log.sent(key):
            out.append(item(Kind.NEW, key))
    if due is None:
        return out
    days = (due - today).days
    if days < 0:
        key = f"{Kind.OVERDUE}:{dept}:{rid}:{due.isoformat()}"
        since = log.days_since(key, today)
        if since is None or (settings.remind_every_days and since >= settings.remind_every_days):
            out.append(item(Kind.OVERDUE, key))
    elif days <= settings.due_days:
        key = f"{Kind.DUE_SOON}:{dept}:{rid}:{due.isoformat()}"
        if not log.sent(key):
            out.append(item(Kind.DUE_SOON, key))
    return out


def due_date(referral: Row, config: Config) -> date | None:
    """A referral row's due date by the one rule (:func:`workflow.due_date`)."""
    due = referral.get("回答期限")
    return workflow_due_date(
        date_or_none(due), is_blank(due), date_or_none(referral.get("照会日")), config.desk.answer_days
    )


def safe_subject(proposal: Row | None) -> str:
    """A proposal's 件名 if it may leave the desk; hidden when protected or when protection is unclear."""
    if proposal is None:
        return "（不明）"
    if "件名" in protected_columns(proposal.get("アイデア保護")):  # an unreadable entry protects everything
        return HIDDEN_SUBJECT
    text = normalize_text(proposal.get("件名"))
    return text or "（件名なし）"


def _department_address(dept: Department, warnings: list[str]) -> str:
    if not dept.email:
        warnings.append(
            f"担当課「{dept.name}」の連絡先メールが空のため、通知を送れません（担当課シート {dept.row}行目）。"
        )
        return ""
    try:
        return check_email(dept.email)
    except ValueProblem as e:
        warnings.append(
            f"担当課「{dept.name}」の連絡先メール「{dept.email}」が使えません: {e}（担当課シート {dept.row}行目）。"
        )
        return ""


def _where_to_answer(dept: Department, store: Store) -> str:
    if dept.ref.book is None:
        return f"台帳のシート「{dept.ref.sheet}」"
    if store.backend == "gsheets":
        return f" https://docs.google.com/spreadsheets/d/{dept.ref.book} "  # spaces keep the URL clickable
    return f"{dept.ref.book}（シート「{dept.ref.sheet}」）"


def _department_notice(
    dept: Department, address: str, items: list[Item], config: Config, store: Store, today: date
) -> Notice:
    new = [i for i in items if i.kind == Kind.NEW]
    new_ids = {i.referral_id for i in new}
    soon = [i for i in items if i.kind == Kind.DUE_SOON and i.referral_id not in new_ids]
    overdue = [i for i in items if i.kind == Kind.OVERDUE and i.referral_id not in new_ids]
    labels = [
        f"{label}{len(group)}件" for label, group in (("新規", new), ("期限間近", soon), ("期限超過", overdue)) if group
    ]
    subject = f"{SUBJECT_PREFIX}照会のお知らせ（{'・'.join(labels)}）"
    lines = [
        f"{dept.name} ご担当者様",
        "",
        f"{config.desk.name}です。貴課あての照会についてお知らせします。",
        f"回答は{_where_to_answer(dept, store)}の「回答」「回答日」「回答理由・コメント」欄に入力してください。",
    ]
    for title, group in (
        (f"■ 新しい照会（{len(new)}件）", new),
        (f"■ 回答期限が近い照会（{len(soon)}件）", soon),
        (f"■ 回答期限を過ぎている照会（{len(overdue)}件）", overdue),
    ):
        if group:
            lines += ["", title, *(i.line(today) for i in sorted(group, key=lambda i: i.referral_id))]
    lines += _footer(config)
    return Notice("department", address, subject, "\n".join(lines) + "\n", dept.name, list(items))


def _footer(config: Config) -> list[str]:
    lines = ["", "――", "このメールは公民連携デスクの台帳から自動で送信しています。", config.desk.name]
    if config.desk.phone:
        lines.append(f"電話: {config.desk.phone}")
    return lines


def _summary_notice(
    config: Config,
    settings: NotifySettings,
    register: Table,
    referral_table: Table,
    departments: dict[str, Department],
    log: _SentLog,
    now: datetime,
) -> Notice | None:
    today = now.date()
    if not settings.desk or today.weekday() < settings.summary_weekday:
        return None
    year, week, _ = today.isocalendar()
    key = f"{Kind.SUMMARY}:{year}-W{week:02d}"
    if log.sent(key):
        return None
    proposals = register.rows
    referrals = referral_table.rows
    statuses = Counter(normalize_text(r.get("ステータス")) or "（空欄）" for r in proposals)
    week_start = today - timedelta(days=7)
    received = []
    for r in proposals:
        d = date_or_none(r.get("受付日"))
        if d is not None and week_start < d <= today:
            received.append(f"・{normalize_text(r.get('提案ID'))}（{to_wareki(d)}）　件名: {safe_subject(r)}")
    by_key = register.by_key("提案ID")
    waiting: Counter[str] = Counter()
    late: Counter[str] = Counter()
    overdue_lines = []
    for r in referrals:
        # Referrals to partners (県→企業等) are counted together: no partner's name goes into a mail.
        dept = normalize_text(r.get("照会先"))
        dept = dept if dept in departments else PARTNERS_LABEL
        proposal = by_key.get(normalize_text(r.get("提案ID")))
        if not waits_for_answer(r.get("回答"), proposal.get("ステータス") if proposal is not None else None):
            continue
        waiting[dept] += 1
        due = due_date(r, config)
        if due is not None and due < today:
            late[dept] += 1
            overdue_lines.append(
                f"・{normalize_text(r.get('照会ID'))}　{dept}　回答期限: {to_wareki(due)}（{(today - due).days}日超過）"
            )
    lines = [
        "公民連携デスク各位",
        "",
        f"{to_wareki(today)} 時点の台帳の状況です。",
        "",
        "■ 提案のステータス別件数",
        *(f"・{s}: {n}件" for s, n in sorted(statuses.items(), key=lambda kv: _status_order(kv[0]))),
        "",
        f"■ この1週間に受け付けた提案（{len(received)}件）",
        *(received or ["・なし"]),
        "",
        "■ 回答待ちの照会（課ごと）",
        *(f"・{d}: {n}件（うち期限超過 {late[d]}件）" for d, n in sorted(waiting.items())),
        *([] if waiting else ["・なし"]),
        "",
        f"■ 回答期限を過ぎている照会（{len(overdue_lines)}件）",
        *(sorted(overdue_lines) or ["・なし"]),
    ]
    missing = [d.name for d in departments.values() if not d.email]
    if missing:
        lines += ["", "■ 連絡先メールが未登録の担当課（通知を送れません）", *(f"・{m}" for m in missing)]
    lines += _footer(config)
    subject = f"{SUBJECT_PREFIX}週次まとめ（{to_wareki(today)}）"
    return Notice("summary", settings.desk, subject, "\n".join(lines) + "\n", key=key)


def _status_order(status: str) -> int:
    return Status.ALL.index(status) if status in Status.ALL else len(Status.ALL)


# ---------------------------------------------------------------- sending
def build_message(notice: Notice, settings: NotifySettings, now: datetime, zone: tzinfo | None = None) -> EmailMessage:
    """A MIME message: UTF-8 body (base64), RFC 2047-encoded Japanese headers; a naive ``now`` is
    wall time in ``zone`` (the desk's, default Asia/Tokyo)."""
    msg = EmailMessage()
    msg["Subject"] = notice.subject
    msg["From"] = Address(settings.sender_name, addr_spec=settings.sender)
    msg["To"] = notice.to
    msg["Date"] = format_datetime(now if now.tzinfo else now.replace(tzinfo=zone or clock.zone()))
    domain = settings.sender.rpartition("@")[2] or None
    digest = hashlib.sha256(f"{notice.to}\n{notice.subject}\n{notice.body}".encode()).hexdigest()[:12]
    msg["Message-ID"] = make_msgid(idstring=f"kouminrenkei.{digest}", domain=domain)
    msg.set_content(notice.body, charset="utf-8", cte="base64")
    return msg


def send_notices(notices: list[Notice], settings: NotifySettings, config: Config, now: datetime) -> None:
    """Send over one SMTP connection; a refused recipient marks that notice, a broken server raises."""
    password = settings.password(config.where)
    server = f"{settings.host}:{settings.port}"
    try:
        smtp = _connect(settings, password, server)
    except smtplib.SMTPAuthenticationError:
        raise ConfigError(
            f"SMTP サーバー {server} でログインできません"
            f"（notify.user と環境変数 {settings.password_env} を確認してください）。"
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise ConfigError(
            f"SMTP サーバー {server} は STARTTLS やログインに対応していません（notify.security を確認してください）。"
        ) from None
    except ssl.SSLError as e:
        raise ServiceError(f"SMTP サーバー {server} と暗号化通信できません: {e.reason or e}") from None
    except (OSError, smtplib.SMTPException) as e:
        raise ServiceError(f"SMTP サーバー {server} に接続できません: {_reason(e)}") from None
    try:
        for notice in notices:
            try:
                smtp.send_message(build_message(notice, settings, now, clock.desk_zone(config)))
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as e:
                notice.error = f"{notice.to} あての送信を拒否されました: {_reason(e)}"
                continue
            except (OSError, smtplib.SMTPException) as e:
                raise ServiceError(f"SMTP サーバー {server} への送信に失敗しました: {_reason(e)}") from None
            notice.sent = True
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _connect(settings: NotifySettings, password: str, server: str) -> smtplib.SMTP:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.security == "ssl":
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        if settings.security == "starttls":
            smtp.starttls(context=context)
        if settings.user:
            smtp.login(settings.user, password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _reason(e: BaseException) -> str:
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        codes = [
            f"{code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
            for code, msg in e.recipients.values()
        ]
        return "、".join(codes)
    if isinstance(e, smtplib.SMTPResponseException):
        msg = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
        return f"{e.smtp_code} {msg}"
    if isinstance(e, OSError):
        return os_error_text(e)
    return str(e) or type(e).__name__


def log_changes(sent: list[Notice], now: datetime) -> list[Change]:
    """The ``_notify`` rows for the mails that went out (nothing for an empty list)."""
    rows: list[dict[str, CellValue]] = []
    for notice in sent:
        if notice.kind == "summary":
            rows.append(
                {
                    "送信日時": now,
                    "種類": Kind.SUMMARY,
                    "課": "",
                    "宛先": notice.to,
                    "照会ID": "",
                    "通知キー": notice.key,
                }
            )
            continue
        for item in notice.items:
            rows.append(
                {
                    "送信日時": now,
                    "種類": item.kind,
                    "課": notice.department,
                    "宛先": notice.to,
                    "照会ID": item.referral_id,
                    "通知キー": item.key,
                }
            )
    if not rows:
        return []
    return [EnsureSheet(NOTIFY_REF, NOTIFY_SHEET, hidden=True), AppendRows(NOTIFY_REF, tuple(rows))]
