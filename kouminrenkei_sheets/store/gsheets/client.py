"""The HTTP side of the Sheets store: credentials, a client-side rate limit, bounded retries.

:class:`GoogleHTTPClient` is gspread's HTTP client with a sliding-window rate limit and bounded
exponential backoff with jitter (at least the ``Retry-After`` a 429 asks for); after that a
:class:`~kouminrenkei_sheets.errors.ServiceError` (exit 4). Its ``requests`` session is an
``AuthorizedSession`` over the credentials; :func:`authorized_session` mounts a transport adapter
on it when one is given (tests route every Google URL to a local fake that way).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import google.auth.exceptions
import google.oauth2.credentials
import requests
from google.auth.credentials import Credentials
from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from ...errors import ConfigError, ServiceError

SCOPES = ("https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive")
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
RETRY_AFTER_MAX = 300.0  # a longer Retry-After is waited this long, then the retries go on
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
DRIVE_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


# ---------------------------------------------------------------- credentials
def load_credentials(configured: Path | None) -> tuple[Credentials, str | None]:
    """google-auth credentials from a service-account key or an authorised-user file, and the address
    Google knows them by (what a spreadsheet must be shared with). ``configured`` is the file
    gsheets.credentials names (resolved against the config's folder); None: GOOGLE_APPLICATION_CREDENTIALS."""
    text = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "") if configured is None else str(configured)
    if not text:
        raise ConfigError(
            "Google の認証情報がありません。kouminrenkei.toml の gsheets.credentials にサービスアカウントの鍵"
            "（JSON）のパスを書くか、環境変数 GOOGLE_APPLICATION_CREDENTIALS を設定してください。"
        )
    path = configured if configured is not None else Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(f"Google の認証情報 {path} が見つかりません（gsheets.credentials を確認してください）。")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise ConfigError(
            f"Google の認証情報 {path} を JSON として読めません。鍵ファイルが壊れているので、"
            "Google Cloud コンソールで作り直してください。"
        ) from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "service_account":
        try:
            creds = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ConfigError(
                f"サービスアカウントの鍵 {path} が壊れています（{reason}）。"
                "Google Cloud コンソールで鍵を作り直してください。"
            ) from None
        return creds, creds.service_account_email
    if kind == "authorized_user":
        missing = sorted({"client_id", "client_secret", "refresh_token"} - set(info))
        if missing:
            raise ConfigError(f"認可済みユーザーのファイル {path} に {', '.join(missing)} がありません。")
        creds = google.oauth2.credentials.Credentials(
            token=None,
            refresh_token=info["refresh_token"],
            token_uri=info.get("token_uri") or GOOGLE_TOKEN_URI,
            client_id=info["client_id"],
            client_secret=info["client_secret"],
            scopes=list(SCOPES),
        )
        return creds, info.get("account") or None
    raise ConfigError(
        f"{path} はサービスアカウントの鍵でも認可済みユーザーのファイルでもありません（type = {kind!r}）。"
    )


# ---------------------------------------------------------------- rate limit and retries
class RateLimiter:
    """Fewer than ``per_minute`` calls in any 60 seconds (a sliding window); waits until one fits."""

    def __init__(
        self, per_minute: int, *, clock: Callable[[], float], sleep: Callable[[float], None], period: float = 60.0
    ) -> None:
        self.limit = max(1, per_minute - 1)  # stay under the quota, never at it
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._times and self._times[0] + self.period <= now:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return
                # at least a millisecond: a wait below the clock's float resolution would never pass
                wait = max(self._times[0] + self.period - now, 0.001)
            self.waited += wait
            self._sleep(wait)


class _Transient(Exception):
    """A failure worth retrying: quota (429), a 5xx, a timeout or a dropped connection."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds the server asked us to wait (Retry-After), if it said


def retry_after(response: requests.Response | None) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds (delta-seconds or an HTTP date), capped."""
    value = response.headers.get("Retry-After", "").strip() if response is not None else ""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


class _BadRange(Exception):
    """The API could not parse a range: the tab it names does not exist (any more)."""


def _status(e: APIError) -> int:
    return e.response.status_code if e.response is not None else e.code


def _drive_reason(e: APIError) -> str:
    errors = e.error.get("errors") if isinstance(e.error, Mapping) else None
    return str(errors[0].get("reason", "")) if errors else ""


def _describe(e: BaseException) -> str:
    if isinstance(e, APIError):
        code = _status(e)
        if code == 429 or _drive_reason(e) in DRIVE_RATE_REASONS:
            return f"{code} 利用上限（1 分あたりのリクエスト数）を超えました"
        return f"{code} {e.error.get('status') or 'エラー'}: {e.error.get('message', '')}".strip()
    if isinstance(e, requests.Timeout):
        return "応答がありません（タイムアウト）"
    if isinstance(e, requests.ConnectionError):
        return "接続が切れました"
    return f"{type(e).__name__}: {e}"


def authorized_session(
    credentials: Credentials, transport: requests.adapters.BaseAdapter | None = None
) -> AuthorizedSession:
    """The session every API call goes through (it adds and refreshes the OAuth token). A
    ``transport`` is mounted for every https URL: how tests send the real client's requests to a
    local fake of Google (the token requests go to the credentials' own ``token_uri``)."""
    session = AuthorizedSession(credentials)
    if transport is not None:
        session.mount("https://", transport)
    return session


class GoogleHTTPClient(HTTPClient):
    """gspread's HTTP client, rate limited, with bounded retries.

    gspread's own BackOffHTTPClient retries without bound; this one tries ``max_retries`` more times
    with exponential backoff and jitter, then raises ServiceError.
    """

    def __init__(
        self,
        auth: Credentials,
        session: requests.Session | None = None,
        *,
        max_retries: int = 5,
        reads_per_minute: int = 60,
        writes_per_minute: int = 60,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout: float | tuple[float, float] = (10.0, 60.0),
        backoff_max: float = 32.0,
    ) -> None:
        super().__init__(auth, session)
        self.set_timeout(timeout)
        self.max_retries = max(0, max_retries)
        self.backoff_max = backoff_max
        self.read_limiter = RateLimiter(reads_per_minute, clock=clock, sleep=sleep)
        self.write_limiter = RateLimiter(writes_per_minute, clock=clock, sleep=sleep)
        self.sleep = sleep
        self.attempts: Counter[str] = Counter()  # "GET sheets", "POST drive" … every try, retries included
        self.retries = 0

    def request(
        self,
        method: str,
        endpoint: str,
        params: Any = None,
        data: Any = None,
        json: Any = None,
        files: Any = None,
        headers: Any = None,
    ) -> requests.Response:
        response = self.call(method, endpoint, params=params, data=data, json=json, files=files, headers=headers)
        assert response is not None
        return response

    def call(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        data: Any = None,
        json: Any = None,
        files: Any = None,
        headers: Any = None,
        idempotent: bool = True,
        applied: Callable[[], bool] | None = None,
    ) -> requests.Response | None:
        """One API call with retries. A call that is not ``idempotent`` is retried after an
        ambiguous failure (the answer lost, maybe not the change) only when ``applied()`` says it
        did not take effect; if it did, None is returned."""
        api = "sheets" if "/v4/spreadsheets" in url else "drive"
        limiter = None
        if api == "sheets":
            limiter = self.read_limiter if method.upper() == "GET" else self.write_limiter
        backoff = wait_exponential_jitter(initial=1, max=self.backoff_max, jitter=1)

        def wait(state: RetryCallState) -> float:
            """The backoff, or longer when the server said how long to wait (Retry-After)."""
            failed = state.outcome.exception() if state.outcome is not None else None
            asked = failed.retry_after if isinstance(failed, _Transient) else None
            return max(backoff(state), asked or 0.0)

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait,
            retry=retry_if_exception_type(_Transient),
            sleep=self.sleep,
            reraise=True,
        )
        last = ""
        try:
            for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        self.retries += 1
                    if limiter is not None:
                        limiter.acquire()
                    self.attempts[f"{method.upper()} {api}"] += 1
                    ambiguous = True
                    asked: float | None = None
                    try:
                        return super().request(
                            method, url, params=params, data=data, json=json, files=files, headers=headers
                        )
                    except APIError as e:
                        code = _status(e)
                        rate = code == 429 or (code == 403 and _drive_reason(e) in DRIVE_RATE_REASONS)
                        if code not in RETRY_STATUS and not rate:
                            raise
                        last, ambiguous = _describe(e), not rate
                        asked = retry_after(e.response)
                    except (requests.ConnectTimeout, google.auth.exceptions.TransportError) as e:
                        last, ambiguous = _describe(e), False
                    except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
                        last = _describe(e)
                    except google.auth.exceptions.RefreshError as e:
                        if not getattr(e, "retryable", False):
                            raise
                        last, ambiguous = f"認証サーバー: {e}", False
                    if ambiguous and not idempotent:
                        if applied is None:
                            raise ServiceError(
                                f"Google スプレッドシートへの書き込みの結果が分かりません（{last}）。"
                                "内容を確認してから再実行してください。"
                            )
                        if applied():
                            return None
                    raise _Transient(last, asked)
        except _Transient:
            raise ServiceError(
                f"Google スプレッドシートの API が {self.max_retries + 1} 回続けて失敗しました（最後: {last}）。"
                "しばらく待ってから再実行してください。"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover
