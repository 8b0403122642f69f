"""The desk's clock: timestamps in ``desk.time_zone`` (default Asia/Tokyo) whatever the server's zone is."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from kouminrenkei_sheets import clock
from kouminrenkei_sheets.config import config_from_dict
from kouminrenkei_sheets.errors import ConfigError
from kouminrenkei_sheets.notify import Notice, NotifySettings, build_message
from kouminrenkei_sheets.run import run
from kouminrenkei_sheets.schema import REGISTER_SHEETS
from kouminrenkei_sheets.store.memory import MemoryStore

TOKYO = clock.zone("Asia/Tokyo")


def test_now_and_today_are_tokyo_on_a_utc_server(utc_machine: None) -> None:
    config = config_from_dict({"store": {"backend": "memory"}})
    instant = datetime(2025, 3, 31, 23, 30, 5, 900_000, tzinfo=UTC).timestamp()
    assert datetime.fromtimestamp(instant).hour == 23  # the machine's own clock says UTC
    assert clock.now(config, clock=lambda: instant) == datetime(2025, 4, 1, 8, 30, 5)  # naive, whole seconds
    assert clock.today(config, clock=lambda: instant) == date(2025, 4, 1)  # already 4月1日 at the desk


def test_the_zone_comes_from_the_config() -> None:
    config = config_from_dict({"store": {"backend": "memory"}, "desk": {"time_zone": "Pacific/Honolulu"}})
    instant = datetime(2025, 4, 1, 0, 0, tzinfo=UTC).timestamp()
    assert clock.now(config, clock=lambda: instant) == datetime(2025, 3, 31, 14, 0)


@pytest.mark.parametrize("name", ["Tokyo", "JST", "Asia", "", "../etc/passwd"])
def test_a_wrong_zone_is_one_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match=r"desk\.time_zone = .* はタイムゾーン名ではありません。"):
        config_from_dict({"desk": {"time_zone": name}})


def test_mail_date_header_is_desk_time() -> None:
    settings = NotifySettings(host="smtp.example.jp", sender="desk@pref.example.jp")
    msg = build_message(Notice("summary", "b@example.jp", "件名", "本文\n"), settings, datetime(2025, 4, 1, 9, 0))
    assert msg["Date"] == format_datetime(datetime(2025, 4, 1, 9, 0, tzinfo=TOKYO))
    assert msg["Date"].endswith("+0900")


def test_the_run_log_is_stamped_in_desk_time(utc_machine: None, tmp_path: Path) -> None:
    config = config_from_dict({"store": {"backend": "memory"}}, base_dir=tmp_path)
    store = MemoryStore()
    store.create_book(None, REGISTER_SHEETS)
    result = run(config, store)  # no now=: the desk's clock
    tokyo = datetime.now(UTC).astimezone(TOKYO).replace(tzinfo=None)
    assert abs(result.started - tokyo) < timedelta(minutes=10)
    assert abs(tokyo - datetime.now()) > timedelta(hours=8)  # the server's local time is 9 hours behind
    line = (tmp_path / "logs" / "kouminrenkei.log").read_text(encoding="utf-8").splitlines()[-1]
    m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ", line)
    assert m, line
    assert abs(datetime.fromisoformat(m.group(1)) - tokyo) < timedelta(minutes=10)
