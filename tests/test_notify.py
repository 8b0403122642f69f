"""notify: one mail per department and a weekly desk summary, sent to a local SMTP server and read back."""

from __future__ import annotations

import email
import importlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from kouminrenkei_sheets.config import Config, config_from_dict
from kouminrenkei_sheets.errors import BusyError, ConfigError, ServiceError
from kouminrenkei_sheets.notify import HIDDEN_SUBJECT, Notice, build_message, notify, notify_settings
from kouminrenkei_sheets.schema import DEPARTMENTS, NOTIFY_STATE, PROPOSALS, REFERRALS, REGISTER_SHEETS
from kouminrenkei_sheets.store.base import WRITE_LOCK, AppendRows, SheetRef
from kouminrenkei_sheets.store.memory import MemoryStore

NOW = datetime(2025, 6, 2, 9, 0)  # a Monday
SECRET_TITLE = "秘密の新製品を使った実証"
PARTNER_PERSON = "連絡太郎"
PARTNER_MAIL = "taro.renraku@partner.example.jp"
PARTNER_PHONE = "029-111-2222"
SECRET_OUTLINE = "まだ公表していない技術の概要"


# ---------------------------------------------------------------- a local SMTP server
@dataclass
class Inbox:
    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.raw.append(envelope.original_content)
        msg = email.message_from_bytes(envelope.original_content, policy=default_policy)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for rcpt, m in self.messages if address in rcpt]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def body_of(msg: Message) -> str:
    part = msg.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    assert part is not None
    return str(part.get_content())


# ---------------------------------------------------------------- a small register
def make_config(port: int = 25, **notify_extra: Any) -> Config:
    section: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "desk-bot@pref.example.jp",
        "desk": "desk@pref.example.jp",
        "summary_weekday": "月",
    }
    section.update(notify_extra)
    return config_from_dict(
        {"store": {"backend": "memory"}, "desk": {"phone": "029-301-0000"}, "notify": section},
        base_dir=Path("."),
    )


def make_store() -> MemoryStore:
    store = MemoryStore()
    store.create_book(None, REGISTER_SHEETS)
    proposals = (
        {"提案ID": "R7-0001", "件名": "防災備蓄の連携", "ステータス": "照会中", "受付日": date(2025, 5, 1),
         "担当者": PARTNER_PERSON, "メール": PARTNER_MAIL, "電話": PARTNER_PHONE},
        {"提案ID": "R7-0002", "件名": SECRET_TITLE, "概要": SECRET_OUTLINE, "ステータス": "照会中",
         "アイデア保護": "件名、概要", "受付日": date(2025, 5, 28), "担当者": PARTNER_PERSON},
        {"提案ID": "R7-0003", "件名": "観光ルート", "ステータス": "取下げ", "受付日": date(2025, 4, 3)},
        {"提案ID": "R7-0004", "件名": "子育て応援", "ステータス": "照会中", "アイデア保護": "件名・概要ではない何か",
         "受付日": date(2025, 5, 30)},
    )  # fmt: skip
    referrals = (
        # new, due in 30 days
        {"照会ID": "R7-0001-01", "提案ID": "R7-0001", "照会先": "防災・危機管理課", "照会日": date(2025, 6, 1),
         "回答期限": date(2025, 7, 1), "先方担当者": PARTNER_PERSON},
        # answered 検討中, due in 3 days
        {"照会ID": "R7-0001-02", "提案ID": "R7-0001", "照会先": "観光振興課", "照会日": date(2025, 5, 1),
         "回答期限": date(2025, 6, 5), "回答": "検討中"},
        # protected subject, overdue
        {"照会ID": "R7-0002-01", "提案ID": "R7-0002", "照会先": "防災・危機管理課", "照会日": date(2025, 4, 1),
         "回答期限": date(2025, 5, 20), "回答": "検討中"},
        # answered: nothing to say
        {"照会ID": "R7-0001-03", "提案ID": "R7-0001", "照会先": "子ども政策課", "照会日": date(2025, 5, 1),
         "回答期限": date(2025, 6, 3), "回答": "連携可"},
        # withdrawn proposal: nothing to say
        {"照会ID": "R7-0003-01", "提案ID": "R7-0003", "照会先": "観光振興課", "照会日": date(2025, 4, 3)},
        # unreadable protection list: subject hidden (fail closed)
        {"照会ID": "R7-0004-01", "提案ID": "R7-0004", "照会先": "子ども政策課", "照会日": date(2025, 6, 1)},
        # a partner, not a department: never mailed
        {"照会ID": "R7-0005-01", "提案ID": "R7-0001", "照会先": "株式会社サンプル", "照会日": date(2025, 6, 1)},
        # a department without an address
        {"照会ID": "R7-0001-04", "提案ID": "R7-0001", "照会先": "農業政策課", "照会日": date(2025, 6, 1)},
    )  # fmt: skip
    departments = (
        {"部局": "防災・危機管理部", "課": "防災・危機管理課", "連絡先メール": "bousai@pref.example.jp"},
        {"部局": "営業戦略部", "課": "観光振興課", "連絡先メール": "kanko@pref.example.jp"},
        {"部局": "福祉部", "課": "子ども政策課", "連絡先メール": "kodomo@pref.example.jp"},
        {"部局": "農林水産部", "課": "農業政策課", "連絡先メール": ""},
    )
    store.apply(
        [
            AppendRows(SheetRef(PROPOSALS), proposals),
            AppendRows(SheetRef(REFERRALS), referrals),
            AppendRows(SheetRef(DEPARTMENTS), departments),
        ]
    )
    store.writes.clear()
    return store


# ---------------------------------------------------------------- tests
def test_one_mail_per_department_and_a_weekly_summary(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    store = make_store()
    result = notify(make_config(port), store, now=NOW)

    assert sorted(n.to for n in result.sent) == [
        "bousai@pref.example.jp",
        "desk@pref.example.jp",
        "kanko@pref.example.jp",
        "kodomo@pref.example.jp",
    ]
    assert len(inbox.messages) == 4
    [bousai] = inbox.to("bousai@pref.example.jp")
    assert bousai["Subject"] == "【公民連携デスク】照会のお知らせ（新規1件・期限超過1件）"
    body = body_of(bousai)
    assert "・R7-0001-01　件名: 防災備蓄の連携　照会日: 令和7年6月1日　回答期限: 令和7年7月1日" in body
    assert f"・R7-0002-01　件名: {HIDDEN_SUBJECT}　回答期限: 令和7年5月20日（13日超過）　回答: 検討中" in body

    [kanko] = inbox.to("kanko@pref.example.jp")
    assert "・R7-0001-02　件名: 防災備蓄の連携　回答期限: 令和7年6月5日（あと3日）　回答: 検討中" in body_of(kanko)
    assert "R7-0003-01" not in body_of(kanko)  # its proposal was withdrawn

    [kodomo] = inbox.to("kodomo@pref.example.jp")
    assert f"R7-0004-01　件名: {HIDDEN_SUBJECT}" in body_of(kodomo)
    assert "R7-0001-03" not in body_of(kodomo)  # answered 連携可

    [summary] = inbox.to("desk@pref.example.jp")
    assert summary["Subject"] == "【公民連携デスク】週次まとめ（令和7年6月2日）"
    text = body_of(summary)
    assert "・照会中: 3件" in text and "・取下げ: 1件" in text
    assert "・R7-0002-01　防災・危機管理課　回答期限: 令和7年5月20日（13日超過）" in text
    assert "・農業政策課" in text  # no address: the desk hears about it
    assert result.warnings == ["担当課「農業政策課」の連絡先メールが空のため、通知を送れません（担当課シート 5行目）。"]


def test_no_protected_field_or_personal_data_in_any_mail(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    notify(make_config(port), make_store(), now=NOW)
    assert inbox.messages
    for _, msg in inbox.messages:
        text = msg["Subject"] + body_of(msg)
        for secret in (SECRET_TITLE, SECRET_OUTLINE, PARTNER_PERSON, PARTNER_MAIL, PARTNER_PHONE, "子育て応援"):
            assert secret not in text
        assert "株式会社サンプル" not in text


def test_headers_are_mime_encoded_and_the_body_is_utf8(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    notify(make_config(port), make_store(), now=NOW)
    for raw in inbox.raw:
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        head.decode("ascii")  # every header is 7-bit: the Japanese is RFC 2047 encoded
        assert b"Subject: =?utf-8?" in head
        assert b"From: =?utf-8?" in head
        assert b'charset="utf-8"' in raw and b"Content-Transfer-Encoding: base64" in raw


def test_the_same_notice_is_never_sent_twice(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    store, config = make_store(), make_config(port)
    first = notify(config, store, now=NOW)
    assert len(first.sent) == 4
    log = store.read([SheetRef(NOTIFY_STATE)])[SheetRef(NOTIFY_STATE)]
    assert log is not None and log.hidden
    assert {r.get("照会ID") for r in log.rows} >= {"R7-0001-01", "R7-0001-02", "R7-0002-01", "R7-0004-01"}

    again = notify(config, store, now=NOW.replace(hour=9, minute=5))
    assert again.notices == [] and len(inbox.messages) == 4
    later_in_week = notify(config, store, now=datetime(2025, 6, 4, 9, 0))
    assert later_in_week.notices == []  # weekly summary already sent this week, nothing newly due
    assert len(inbox.messages) == 4


def test_a_new_referral_is_announced_once_and_overdue_ones_again_after_a_week(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    store, config = make_store(), make_config(port, desk="")
    first = notify(config, store, now=NOW)
    assert len(first.sent) == 3  # no desk address: no summary
    store.apply(
        [
            AppendRows(
                SheetRef(REFERRALS),
                ({"照会ID": "R7-0002-02", "提案ID": "R7-0002", "照会先": "観光振興課", "照会日": date(2025, 6, 2)},),
            )
        ]
    )
    second = notify(config, store, now=NOW.replace(hour=10))
    assert [(n.to, [i.referral_id for i in n.items]) for n in second.sent] == [
        ("kanko@pref.example.jp", ["R7-0002-02"])
    ]
    week_later = notify(config, store, now=datetime(2025, 6, 9, 9, 0))
    reminded = {i.referral_id for n in week_later.sent for i in n.items}
    assert "R7-0002-01" in reminded  # still overdue a week later: reminded again
    assert "R7-0001-01" not in reminded  # announced already, not yet due
    assert len(inbox.messages) == 3 + 1 + len(week_later.sent)


def test_dry_run_sends_and_writes_nothing(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    store = make_store()
    result = notify(make_config(port), store, dry_run=True, now=NOW)
    assert len(result.notices) == 4 and not result.sent
    assert inbox.messages == []
    assert store.writes == {}


def test_nothing_is_sent_while_the_register_is_open() -> None:
    store = make_store()
    store.open_by[None] = "山田"
    result = notify(make_config(1), store, now=NOW)
    assert result.postponed and result.notices == []
    assert store.writes == {}


def test_a_second_notify_at_the_same_time_is_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.import_module("kouminrenkei_sheets.notify"), "WRITE_LOCK_WAIT", 0.0)
    store = make_store()
    with store._hold_lock(WRITE_LOCK, ttl_seconds=60, wait_seconds=0), pytest.raises(BusyError):
        notify(make_config(1), store, now=NOW)


def test_an_unreachable_server_is_one_service_error_and_nothing_is_logged() -> None:
    store = make_store()
    with pytest.raises(ServiceError, match=r"^SMTP サーバー 127\.0\.0\.1:\d+ に接続できません"):
        notify(make_config(free_port(), timeout=2), store, now=NOW)
    assert store.writes == {}


class _Logins:
    def __init__(self) -> None:
        self.tried: list[tuple[str, str]] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.tried.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password == b"s3cret", handled=False)


@pytest.fixture
def auth_smtp() -> Iterator[tuple[Inbox, int, _Logins]]:
    inbox, logins, port = Inbox(), _Logins(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=logins, auth_require_tls=False)
    controller.start()
    try:
        yield inbox, port, logins
    finally:
        controller.stop()


def test_the_password_comes_only_from_the_environment(
    auth_smtp: tuple[Inbox, int, _Logins], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port, logins = auth_smtp
    config = make_config(port, user="bot", password_env="TEST_KOUMINRENKEI_SMTP")
    monkeypatch.delenv("TEST_KOUMINRENKEI_SMTP", raising=False)
    with pytest.raises(ConfigError, match="環境変数 TEST_KOUMINRENKEI_SMTP"):
        notify(config, make_store(), now=NOW)
    monkeypatch.setenv("TEST_KOUMINRENKEI_SMTP", "wrong")
    with pytest.raises(ConfigError, match="ログインできません"):
        notify(config, make_store(), now=NOW)
    monkeypatch.setenv("TEST_KOUMINRENKEI_SMTP", "s3cret")
    assert len(notify(config, make_store(), now=NOW).sent) == 4
    # smtplib tries each mechanism the server offers before giving up on a wrong password
    assert {password for _, password in logins.tried} == {"wrong", "s3cret"}
    assert logins.tried[-1] == ("bot", "s3cret")
    assert len(inbox.messages) == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"security": "tls"}, 'notify.security = "tls"'),
        ({"from": "not an address"}, "notify.from"),
        ({"summary_weekday": "週末"}, "notify.summary_weekday"),
        ({"password": "x"}, "notify.password は知らない設定です"),
        ({"port": "587"}, 'notify.port = "587" は整数'),
    ],
)
def test_wrong_settings_are_one_config_error(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        notify_settings(make_config(**extra))


def test_message_defaults_follow_the_security_mode() -> None:
    config = config_from_dict({"notify": {"host": "smtp.example.jp", "security": "ssl", "from": "a@example.jp"}})
    settings = notify_settings(config)
    assert (settings.port, settings.summary_weekday, settings.due_days) == (465, 0, 7)
    msg = build_message(Notice("summary", "b@example.jp", "件名", "本文\n"), settings, NOW)
    assert msg["Message-ID"].endswith("@example.jp>")
