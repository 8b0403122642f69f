"""The desk's clock: every timestamp the tool writes, in the desk's time zone (``desk.time_zone``).

One form everywhere: naive wall time in the desk's zone, to the second (a cell in Excel or Sheets holds
no time zone, so the zone is the desk's, stated once in the config), whatever the server's clock is set to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from .config import Config

DEFAULT_ZONE = "Asia/Tokyo"


@lru_cache(maxsize=8)
def zone(name: str = DEFAULT_ZONE) -> tzinfo:
    """The time zone of that name (checked when the config is read, so it exists)."""
    return ZoneInfo(name)


def desk_zone(config: Config) -> tzinfo:
    return zone(config.desk.time_zone or DEFAULT_ZONE)


def now_in(tz: tzinfo, *, clock: Callable[[], float] = time.time) -> datetime:
    """The wall time in ``tz`` now, to the second, without tzinfo (the form every sheet stores)."""
    return datetime.fromtimestamp(int(clock()), UTC).astimezone(tz).replace(tzinfo=None)


def now(config: Config, *, clock: Callable[[], float] = time.time) -> datetime:
    """Now on the desk's clock: naive wall time in ``desk.time_zone``, whole seconds."""
    return now_in(desk_zone(config), clock=clock)


def today(config: Config, *, clock: Callable[[], float] = time.time) -> date:
    """Today's date at the desk (on a UTC server, 08:00 in Tokyo is already tomorrow's 照会日)."""
    return now(config, clock=clock).date()


def log_converter(tz: tzinfo) -> Callable[[float | None], time.struct_time]:
    """For ``logging.Formatter.converter``: log lines stamped in ``tz``, not the server's zone."""

    def convert(seconds: float | None) -> time.struct_time:
        return datetime.fromtimestamp(time.time() if seconds is None else seconds, tz).timetuple()

    return convert
