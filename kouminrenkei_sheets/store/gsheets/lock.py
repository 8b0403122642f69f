"""The sync lock on Sheets: an append-only claim log in the register's hidden ``_lock`` tab.

Google Sheets has no compare-and-set, but it orders appends: a claim is appended, then the log is
read back, and the first live claim holds the lock. A claim dies when released or expired; the
holder trims the dead claims above its own. The claim and the release are a write each (nothing can
carry them: the claim must land before the log is read, and the release after the job's last write,
which for sync is a department spreadsheet's); the read back costs nothing of its own, as it is the
job's first read of the register (``store.LOCK_PREFETCH``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from gspread.exceptions import APIError
from gspread.utils import absolute_range_name

from ...errors import BusyError, KouminrenkeiError
from ...schema import Column, Sheet
from ..base import EnsureSheet, SheetRef, busy_message
from .client import _status

if TYPE_CHECKING:
    from .store import GSheetsStore, _Book

LOCK_TAB = "_lock"
LOCK_HEADERS = ("名前", "トークン", "保持者", "期限", "状態", "記録日時")
LOCK_SHEET = Sheet(LOCK_TAB, tuple(Column(h) for h in LOCK_HEADERS), hidden=True)
LOCK_COMPACT_AT = 50  # dead lock claims kept before the holder deletes them


class LockLog:
    """The lock of one :class:`~.store.GSheetsStore` (its ``_hold_lock``), kept in its register."""

    def __init__(self, store: GSheetsStore) -> None:
        self.store = store

    @contextlib.contextmanager
    def hold(self, name: str, *, ttl_seconds: float, wait_seconds: float = 0) -> Iterator[None]:
        """Claims are appended (the API orders appends), then the log is read back: the first live
        claim holds the lock. A claim dies when released or expired; the holder trims dead claims."""
        holder = f"{self.store.options.actor}@{socket.gethostname()} (pid {os.getpid()})"
        deadline = self.store._clock() + wait_seconds
        b = self.store._book(None)
        tries = 0
        while True:
            token = uuid.uuid4().hex  # a fresh claim each try: a released token never counts again
            expires = (self.store._now() + timedelta(seconds=ttl_seconds)).astimezone(self.store.zone)
            self.append(b, [name, token, holder, expires.isoformat(timespec="seconds"), "claim", self.stamp()])
            # The first try reads the job's first register tabs along with the log (no request of
            # their own); a try after waiting reads the log alone (waiting is not a reason to read more).
            first, my_row, dead_above = self.state(b, name, token, prefetch=tries == 0)
            tries += 1
            if first is not None and first[0] == token:
                self.store._adopt_look(b, my_row)
                break
            self.store._drop_prefetch(b)  # what it read was read before the lock was ours
            self.append(b, [name, token, holder, "", "release", self.stamp()])
            if self.store._clock() >= deadline:
                who = f"{first[1]}、期限 {_local(first[2], self.store.zone)}" if first else ""
                raise BusyError(busy_message(who))
            self.store._sleep(min(2.0, max(0.1, deadline - self.store._clock())))
        if my_row is not None and dead_above == my_row - 2 and dead_above >= LOCK_COMPACT_AT:
            self.compact(b, my_row)
        try:
            yield
        finally:
            self.store._drop_prefetch(b)
            with contextlib.suppress(KouminrenkeiError):  # if this fails the claim simply expires
                self.append(b, [name, token, holder, "", "release", self.stamp()])

    def stamp(self) -> str:
        return self.store._now().astimezone(self.store.zone).isoformat(timespec="seconds")

    def append(self, b: _Book, row: list[Any]) -> None:
        params: dict[str, Any] = {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"}
        for attempt in range(2):
            self.store._count(self.store.writes, None)
            try:
                # A lost answer may leave the same claim twice: harmless, a token counts once.
                self.store.http.values_append(b.key, absolute_range_name(LOCK_TAB, "A1"), params, {"values": [row]})
                return
            except APIError as e:
                if attempt == 0 and _status(e) == 400 and "Unable to parse range" in str(e.error.get("message")):
                    with b.lock:
                        self.store._load_meta(b, force=True)
                        if LOCK_TAB not in (b.meta or {}):
                            self.store._apply_book(None, [EnsureSheet(SheetRef(LOCK_TAB), LOCK_SHEET, hidden=True)])
                    continue
                raise self.store._error(e, None, b.key, "ロックの記録") from None

    def state(
        self, b: _Book, name: str, token: str, *, prefetch: bool = False
    ) -> tuple[tuple[str, str, str] | None, int | None, int]:
        """The first live claim (token, holder, expiry), our claim's row and how many rows above it are
        dead. With ``prefetch`` the same request reads the register tabs a job reads first."""
        with b.lock:
            if b.meta is not None and LOCK_TAB not in b.meta:
                b.meta = None  # the claim just made the tab: the cached structure is out of date
            fetched = self.store._prefetch(b, [LOCK_TAB]) if prefetch else self.store._fetch(b, [LOCK_TAB])
            tab = fetched.get(LOCK_TAB)
        rows = tab.grid[1:] if tab else []
        released = {str(r[1]) for r in rows if len(r) > 4 and r[4] == "release"}
        now = self.store._now()
        first = None
        my_row = None
        dead_above = 0  # rows above our claim that no live claim needs (release records, dead claims)
        for i, r in enumerate(rows, start=2):
            cells = [*r, None, None, None, None, None][:5]
            lock_name, claim, who, expiry, state = (str(c) if c is not None else "" for c in cells)
            alive = False
            if state == "claim":
                try:
                    alive = claim not in released and datetime.fromisoformat(expiry) > now
                except ValueError:
                    alive = False
                if lock_name == name and alive and first is None:
                    first = (claim, who, expiry)
                if claim == token and my_row is None:
                    my_row = i
                    continue
            if my_row is None and not alive:
                dead_above += 1
        return first, my_row, dead_above

    def compact(self, b: _Book, my_row: int) -> None:
        """Delete the log rows above our live claim (all dead: we hold the lock). Best effort."""
        with b.lock:
            meta = self.store._load_meta(b)
            if LOCK_TAB not in meta or my_row <= 2:
                return
            sid = meta[LOCK_TAB].sheet_id
            req = {
                "deleteDimension": {
                    "range": {"sheetId": sid, "dimension": "ROWS", "startIndex": 1, "endIndex": my_row - 1}
                }
            }
            url = f"https://sheets.googleapis.com/v4/spreadsheets/{b.key}:batchUpdate"
            self.store._count(self.store.writes, None)
            with contextlib.suppress(KouminrenkeiError, APIError):
                self.store.http.call("post", url, json={"requests": [req]}, idempotent=False, applied=lambda: True)
            b.meta = None
            b.tabs.pop(LOCK_TAB, None)


def _local(iso: str, tz: tzinfo) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y/%m/%d %H:%M")
    except ValueError:
        return iso
