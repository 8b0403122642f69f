"""The gsheets backend: the register and department sheets as Google spreadsheets (gspread + google-auth).

``client`` credentials, the rate limit and the HTTP client with bounded retries · ``codec`` cell
values on the wire (date serials) · ``batch`` the write requests and how they are cut to size ·
``lock`` the sync lock's claim log · ``store`` :class:`GSheetsStore` itself. Names starting with
``_`` are shared inside this package only. ``store.factory`` builds the store from a configuration.
"""

from .batch import MAX_REQUEST_BYTES, split_requests
from .client import SCOPES, GoogleHTTPClient, RateLimiter, authorized_session, load_credentials, retry_after
from .codec import DATE_COLUMNS, date_text, decode, encode, from_serial, to_serial
from .lock import LOCK_TAB
from .store import MARKS_TAB, GSheetsOptions, GSheetsStore, as_key, title_of

__all__ = [
    "DATE_COLUMNS",
    "LOCK_TAB",
    "MARKS_TAB",
    "MAX_REQUEST_BYTES",
    "SCOPES",
    "GSheetsOptions",
    "GSheetsStore",
    "GoogleHTTPClient",
    "RateLimiter",
    "as_key",
    "authorized_session",
    "date_text",
    "decode",
    "encode",
    "from_serial",
    "load_credentials",
    "retry_after",
    "split_requests",
    "title_of",
    "to_serial",
]
