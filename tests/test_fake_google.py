"""The Sheets/Drive fake itself, driven through real gspread and google-auth over HTTP.

What the store's tests rely on: people's edits at request boundaries, protected ranges, Google's
limits and answers (shapes, messages, headers), developer metadata, and exact request counts.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import gspread
import pytest
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.credentials import Credentials as UserCredentials
from google.oauth2.service_account import Credentials as ServiceAccountCredentials
from gspread.exceptions import APIError
from gspread.urls import DRIVE_FILES_API_V3_URL, SPREADSHEETS_API_V4_BASE_URL

from fakes.google_api import (
    A_PERSON,
    CELL_CHARACTER_LIMIT,
    PROTECTED_MESSAGE,
    SERVICE_ACCOUNT,
    SHEETS_SCOPES,
    ApiError,
    FakeGoogle,
    ProtectedCellError,
    When,
)

TANAKA = "tanaka@pref.example.jp"  # a colleague at the desk
SUZUKI = "suzuki@pref.example.jp"  # department staff
REFERRALS = [
    ["照会ID", "件名", "回答期限", "回答"],
    ["Q-001", "防災協定", "2025/6/30", "未回答"],
    ["Q-002", "観光PR", "2025/5/15", "連携可"],
    ["Q-003", "健康増進", "2025/7/1", ""],
]


def session_for(fake: FakeGoogle, creds: Any) -> AuthorizedSession:
    """google-auth's own session over ``creds``, with the fake's transport mounted for Google's hosts."""
    session = AuthorizedSession(creds)
    session.mount("https://", fake.transport())
    return session


def sa_client(fake: FakeGoogle) -> gspread.Client:
    creds = ServiceAccountCredentials.from_service_account_info(fake.service_account_info(), scopes=SHEETS_SCOPES)
    return gspread.Client(creds, session=session_for(fake, creds))


def user_client(fake: FakeGoogle, email: str) -> gspread.Client:
    info = fake.add_authorized_user(email, refresh_token=f"1//{email}")
    creds = UserCredentials(
        None,
        refresh_token=info["refresh_token"],
        token_uri=info["token_uri"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        scopes=list(SHEETS_SCOPES),
    )
    return gspread.Client(creds, session=session_for(fake, creds))


@pytest.fixture
def gc(fake: FakeGoogle) -> gspread.Client:
    return sa_client(fake)


@pytest.fixture
def key(fake: FakeGoogle) -> str:
    return fake.add_spreadsheet("公民連携台帳", tabs={"照会": REFERRALS, "提案": [["提案ID"], ["R7-0001"]]})


def url(key: str, tail: str) -> str:
    return f"{SPREADSHEETS_API_V4_BASE_URL}/{key}{tail}"


def batch_update(gc: gspread.Client, key: str, *requests: dict[str, Any]) -> Any:
    return gc.http_client.batch_update(key, {"requests": list(requests)})


def values(gc: gspread.Client, key: str, rng: str) -> list[list[Any]]:
    return gc.http_client.values_get(key, rng).get("values", [])


def drive_version(gc: gspread.Client, key: str) -> tuple[int, str]:
    meta = gc.http_client.request(
        "get", f"{DRIVE_FILES_API_V3_URL}/{key}", params={"fields": "version,modifiedTime"}
    ).json()
    return int(meta["version"]), meta["modifiedTime"]


# ---------------------------------------------------------------- a person's edit at a request boundary
def test_an_edit_before_the_first_write_moves_the_row_a_job_read(
    fake: FakeGoogle, gc: gspread.Client, key: str
) -> None:
    fake.sheet(key, "照会").notes[(2, 3)] = "回答済み"  # on Q-002's 回答
    moment = fake.at(When.first_write(key), lambda: fake.insert_rows(key, "照会", 2))
    read = values(gc, key, "照会!A1:D4")  # a job reads: Q-002 is row 3
    assert read[2][0] == "Q-002" and not moment.fired
    gc.http_client.values_update(key, "照会!D3", params={"valueInputOption": "RAW"}, body={"values": [["検討中"]]})
    assert moment.fired and moment.before == ("sheets.values.update", key)
    # the write went by position: it landed on Q-001's row, which the person's insert pushed down
    assert fake.values(key, "照会")[1:4] == [
        [],
        ["Q-001", "防災協定", 45838, "検討中"],
        ["Q-002", "観光PR", 45792, "連携可"],
    ]
    assert fake.sheet(key, "照会").note_at("D4") == "回答済み"  # the note moved with its row
    assert fake.sheet(key, "照会").format_at("C4")["numberFormat"]["type"] == "DATE"


def test_moments_by_request_number_and_by_endpoint(fake: FakeGoogle, gc: gspread.Client, key: str) -> None:
    second = fake.at(When.request(2, key=key), lambda: fake.type_cell(key, "照会", "D2", "検討中"))
    append = fake.at(When.first("sheets.values.append", key=key), lambda: fake.append_row(key, "照会", ["Q-009"]))
    assert values(gc, key, "照会!D2") == [["未回答"]]  # request 1: before the edit
    assert values(gc, key, "照会!D2") == [["検討中"]]  # request 2: the edit came just before it
    assert second.fired and not append.fired
    gc.http_client.values_append(
        key,
        "照会!A1",
        params={"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
        body={"values": [["Q-004"]]},
    )
    assert append.fired
    assert [r[0] for r in fake.values(key, "照会")[1:]] == ["Q-001", "Q-002", "Q-003", "Q-009", "Q-004"]


def test_a_failing_edit_is_reported_not_swallowed(fake: FakeGoogle, gc: gspread.Client, key: str) -> None:
    moment = fake.at(When.request(1), lambda: fake.rename_header(key, "照会", "存在しない列", "x"))
    values(gc, key, "照会!A1")
    assert moment.fired and isinstance(moment.error, ValueError)
    assert fake.errors and "存在しない列" in fake.errors[0]
    fake.errors.clear()


def test_person_edits_are_not_requests_but_bump_the_drive_version(
    fake: FakeGoogle, gc: gspread.Client, key: str
) -> None:
    before = drive_version(gc, key)
    fake.reset_calls()
    fake.type_cell(key, "照会", "D4", "検討中")
    assert fake.counts() == Counter()
    after = drive_version(gc, key)
    assert after[0] == before[0] + 1 and after[1] > before[1]


def test_drive_tells_the_caller_whether_it_changed_the_file_last(
    fake: FakeGoogle, gc: gspread.Client, key: str
) -> None:
    """Drive's lastModifyingUser, with ``me`` as the caller sees it: a person's edit, then the service
    account's own write."""

    def last(fields: str = "lastModifyingUser(me,emailAddress)") -> dict[str, Any]:
        got = gc.http_client.request("get", f"{DRIVE_FILES_API_V3_URL}/{key}", params={"fields": fields}).json()
        return dict(got["lastModifyingUser"])

    fake.type_cell(key, "照会", "D4", "検討中")
    assert last() == {"me": False, "emailAddress": A_PERSON}
    gc.http_client.values_update(key, "照会!D3", params={"valueInputOption": "RAW"}, body={"values": [["連携可"]]})
    assert last() == {"me": True, "emailAddress": SERVICE_ACCOUNT}
    listed = gc.http_client.request(
        "get", DRIVE_FILES_API_V3_URL, params={"q": "trashed = false", "fields": "files(id,lastModifyingUser(me))"}
    ).json()
    assert {"id": key, "lastModifyingUser": {"me": True}} in listed["files"]


def test_sort_moves_whole_rows_with_notes_formats_and_validation(fake: FakeGoogle, key: str) -> None:
    sheet = fake.sheet(key, "照会")
    sheet.notes[(1, 3)] = "Q-001 のメモ"
    sheet.formats[(3, 1)] = {"backgroundColor": {"red": 1}}
    sheet.validations[(2, 3)] = {"condition": {"type": "ONE_OF_LIST"}}
    fake.type_cell(key, "照会", "C4", "")  # Q-003 without a deadline sorts last
    order = fake.sort_range(key, "照会", "回答期限")
    assert order == [3, 2, 4]
    assert [r[0] for r in fake.values(key, "照会")[1:]] == ["Q-002", "Q-001", "Q-003"]
    assert sheet.note_at("D3") == "Q-001 のメモ"
    assert sheet.validation_at("D2") == {"condition": {"type": "ONE_OF_LIST"}}
    assert sheet.format_at("B4") == {"backgroundColor": {"red": 1}}
    assert fake.sort_range(key, "照会", "A", descending=True, start_row=2) == [4, 2, 3]
    assert [r[0] for r in fake.values(key, "照会")[1:]] == ["Q-003", "Q-002", "Q-001"]


def test_columns_inserted_and_deleted_move_cells_formats_and_protection(
    fake: FakeGoogle, gc: gspread.Client, key: str
) -> None:
    sid = fake.sheet(key, "照会").sheet_id
    batch_update(
        gc,
        key,
        {
            "addProtectedRange": {
                "protectedRange": {"range": {"sheetId": sid, "startColumnIndex": 3, "endColumnIndex": 4}}
            }
        },
    )
    fake.insert_columns(key, "照会", "C", header="課内メモ")
    sheet = fake.sheet(key, "照会")
    assert fake.values(key, "照会")[0] == ["照会ID", "件名", "課内メモ", "回答期限", "回答"]
    assert sheet.format_at("D2")["numberFormat"]["type"] == "DATE"
    [pr] = sheet.protected
    assert (pr["range"]["startColumnIndex"], pr["range"]["endColumnIndex"]) == (4, 5)  # still over 回答
    fake.delete_columns(key, "照会", 2)
    assert fake.values(key, "照会")[0] == ["照会ID", "課内メモ", "回答期限", "回答"]
    assert (pr["range"]["startColumnIndex"], pr["range"]["endColumnIndex"]) == (3, 4)
    fake.delete_rows(key, "照会", 2, 2)
    assert [r[0] for r in fake.values(key, "照会")] == ["照会ID", "Q-003"]


def test_typed_values_are_parsed_like_user_entered(fake: FakeGoogle, gc: gspread.Client, key: str) -> None:
    fake.type_cell(key, "提案", "B2", "2025/4/1")
    fake.type_cell(key, "提案", "C2", "'0012")
    fake.type_cell(key, "提案", "D2", "12")
    assert fake.values(key, "提案")[1] == ["R7-0001", 45748, "0012", 12]
    assert values(gc, key, "提案!B2:D2") == [["2025/04/01", "0012", "12"]]
    with pytest.raises(ValueError, match="outside the grid"):
        fake.type_cell(key, "提案", "A1001", "x")


def test_a_row_typed_at_the_bottom_and_an_append_below_it(fake: FakeGoogle, gc: gspread.Client, key: str) -> None:
    fake.sheet(key, "照会").notes[(6, 0)] = "下のメモ"  # A7, under the table
    assert fake.append_row(key, "照会", ["Q-010", "手入力"]) == 5
    out = gc.http_client.values_append(
        key,
        "照会!A1",
        params={"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
        body={"values": [["Q-011", "x"], ["Q-012", "y"]]},
    )
    assert out["tableRange"] == "'照会'!A1:D5"
    assert out["updates"] == {
        "spreadsheetId": key,
        "updatedRange": "'照会'!A6:B7",
        "updatedRows": 2,
        "updatedColumns": 2,
        "updatedCells": 4,
    }
    assert [r[0] for r in fake.values(key, "照会")[4:7]] == ["Q-010", "Q-011", "Q-012"]
    sheet = fake.sheet(key, "照会")
    assert sheet.note_at("A9") == "下のメモ" and sheet.row_count == 1002  # rows were inserted, not overwritten


def test_rename_tab_and_header(fake: FakeGoogle, gc: gspread.Client, key: str) -> None:
    fake.rename_tab(key, "照会", "照会（旧）")
    fake.rename_header(key, "照会（旧）", "回答", "回答内容")
    assert values(gc, key, "'照会（旧）'!A1:D1") == [["照会ID", "件名", "回答期限", "回答内容"]]
    with pytest.raises(APIError, match="Unable to parse range"):
        values(gc, key, "照会!A1")


# ---------------------------------------------------------------- protected ranges
@pytest.fixture
def protected(fake: FakeGoogle, gc: gspread.Client) -> tuple[str, int]:
    """A department spreadsheet the service account made: columns A:C protected (SA the editor),
    row 1 of D protected with a hole, shared with department staff as writers."""
    sh = gc.create("防災政策課")
    fake.share(sh.id, SUZUKI)
    fake.share(sh.id, TANAKA)
    sid = sh.sheet1.id
    batch_update(
        gc,
        sh.id,
        {
            "addProtectedRange": {
                "protectedRange": {
                    "range": {"sheetId": sid, "startColumnIndex": 0, "endColumnIndex": 3},
                    "editors": {"users": [SERVICE_ACCOUNT, TANAKA]},
                    "unprotectedRanges": [
                        {
                            "sheetId": sid,
                            "startRowIndex": 5,
                            "endRowIndex": 6,
                            "startColumnIndex": 2,
                            "endColumnIndex": 3,
                        }
                    ],
                }
            }
        },
    )
    return sh.id, sid


def test_a_non_editor_cannot_write_a_protected_cell(fake: FakeGoogle, protected: tuple[str, int]) -> None:
    key, _ = protected
    staff = user_client(fake, SUZUKI)
    raw = {"valueInputOption": "RAW"}
    staff.http_client.values_update(key, "D2", params=raw, body={"values": [["連携可"]]})  # an answer column
    with pytest.raises(APIError) as e:
        staff.http_client.values_batch_update(
            key, body={**raw, "data": [{"range": "D3", "values": [["x"]]}, {"range": "B2", "values": [["x"]]}]}
        )
    assert e.value.response.status_code == 403
    assert e.value.response.json()["error"] == {
        "code": 403,
        "message": PROTECTED_MESSAGE,
        "status": "PERMISSION_DENIED",
    }
    assert fake.values(key, "シート1") == [[], [None, None, None, "連携可"]]  # nothing of the batch applied
    staff.http_client.values_update(key, "C6", params=raw, body={"values": [["穴"]]})  # the unprotected hole
    with pytest.raises(APIError, match="protected cell"):
        staff.http_client.values_append(
            key, "A1", params={**raw, "insertDataOption": "INSERT_ROWS"}, body={"values": [["Q-1"]]}
        )
    with pytest.raises(APIError, match="protected cell"):
        staff.http_client.values_clear(key, "C5:C6")
    assert fake.sheet(key, "シート1").row_count == 1000  # the refused append inserted nothing
    user_client(fake, TANAKA).http_client.values_update(key, "B2", params=raw, body={"values": [["編集者"]]})
    sa = sa_client(fake)
    sa.http_client.values_update(key, "A2", params=raw, body={"values": [["Q-1"]]})  # the owner
    assert fake.values(key, "シート1")[1][:4] == ["Q-1", "編集者", None, "連携可"]


def test_batch_update_cell_edits_are_checked_too(fake: FakeGoogle, protected: tuple[str, int]) -> None:
    key, sid = protected
    staff = user_client(fake, SUZUKI)
    note = {"range": {"sheetId": sid, "startRowIndex": 1, "endRowIndex": 2, "startColumnIndex": 0, "endColumnIndex": 1}}
    with pytest.raises(APIError) as e:
        batch_update(staff, key, {"repeatCell": {**note, "cell": {"note": "x"}, "fields": "note"}})
    assert e.value.response.status_code == 403 and e.value.response.json()["error"]["message"] == PROTECTED_MESSAGE
    with pytest.raises(APIError, match="protected cell"):
        batch_update(
            staff,
            key,
            {"deleteDimension": {"range": {"sheetId": sid, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}}},
        )
    assert fake.sheet(key, "シート1").notes == {}


def test_protection_as_each_caller_sees_it_and_its_updates(fake: FakeGoogle, protected: tuple[str, int]) -> None:
    key, _ = protected
    staff = user_client(fake, SUZUKI)
    params = {"fields": "sheets.protectedRanges"}
    [pr] = staff.http_client.spreadsheets_get(key, params)["sheets"][0]["protectedRanges"]
    assert pr["requestingUserCanEdit"] is False and "editors" not in pr
    [mine] = sa_client(fake).http_client.spreadsheets_get(key, params)["sheets"][0]["protectedRanges"]
    assert mine["requestingUserCanEdit"] is True and mine["editors"] == {"users": [SERVICE_ACCOUNT, TANAKA]}
    with pytest.raises(ProtectedCellError):
        fake.type_cell(key, "シート1", "A2", "x", as_user=SUZUKI)  # a person in the UI is refused too
    with pytest.raises(APIError, match="protected cell"):  # a non-editor cannot lift it
        batch_update(staff, key, {"deleteProtectedRange": {"protectedRangeId": pr["protectedRangeId"]}})
    batch_update(
        sa_client(fake),
        key,
        {
            "updateProtectedRange": {
                "protectedRange": {"protectedRangeId": pr["protectedRangeId"], "warningOnly": True},
                "fields": "warningOnly,editors",
            }
        },
    )
    fake.type_cell(key, "シート1", "A2", "警告だけ", as_user=SUZUKI)
    batch_update(sa_client(fake), key, {"deleteProtectedRange": {"protectedRangeId": pr["protectedRangeId"]}})
    assert fake.sheet(key, "シート1").protected == []


def test_a_protection_without_editors_belongs_to_whoever_added_it(fake: FakeGoogle, protected: tuple[str, int]) -> None:
    key, sid = protected
    tanaka = user_client(fake, TANAKA)
    reply = batch_update(
        tanaka, key, {"addProtectedRange": {"protectedRange": {"range": {"sheetId": sid, "startColumnIndex": 5}}}}
    )
    added = reply["replies"][0]["addProtectedRange"]["protectedRange"]
    assert added["editors"] == {"users": [TANAKA]} and added["requestingUserCanEdit"] is True
    with pytest.raises(APIError, match="protected cell"):
        user_client(fake, SUZUKI).http_client.values_update(
            key, "F2", params={"valueInputOption": "RAW"}, body={"values": [["x"]]}
        )
    sa_client(fake).http_client.values_update(key, "F2", params={"valueInputOption": "RAW"}, body={"values": [["x"]]})


# ---------------------------------------------------------------- Google's limits and answers
def test_a_cell_holds_at_most_50000_characters(fake: FakeGoogle, gc: gspread.Client, key: str) -> None:
    raw = {"valueInputOption": "RAW"}
    gc.http_client.values_update(key, "提案!B2", params=raw, body={"values": [["あ" * CELL_CHARACTER_LIMIT]]})
    with pytest.raises(APIError) as e:
        gc.http_client.values_update(key, "提案!C2", params=raw, body={"values": [["あ" * (CELL_CHARACTER_LIMIT + 1)]]})
    assert e.value.response.json()["error"] == {
        "code": 400,
        "message": "Your input contains more than the maximum of 50000 characters in a single cell.",
        "status": "INVALID_ARGUMENT",
    }
    sid = fake.sheet(key, "提案").sheet_id
    with pytest.raises(APIError, match="maximum of 50000 characters"):
        batch_update(
            gc,
            key,
            {
                "updateCells": {
                    "start": {"sheetId": sid, "rowIndex": 1, "columnIndex": 3},
                    "rows": [{"values": [{"userEnteredValue": {"stringValue": "x" * 50_001}}]}],
                    "fields": "userEnteredValue",
                }
            },
        )
    assert len(fake.values(key, "提案")[1]) == 2


def test_a_spreadsheet_holds_at_most_ten_million_cells(fake: FakeGoogle, gc: gspread.Client, key: str) -> None:
    sid = fake.sheet(key, "照会").sheet_id
    assert fake.spreadsheet(key).cell_count() == 2 * 1000 * 26
    allowed = 10_000_000 // 26 - 2 * 1000  # rows that still fit
    batch_update(gc, key, {"appendDimension": {"sheetId": sid, "dimension": "ROWS", "length": allowed}})
    assert fake.spreadsheet(key).cell_count() <= 10_000_000
    with pytest.raises(APIError) as e:
        batch_update(gc, key, {"appendDimension": {"sheetId": sid, "dimension": "ROWS", "length": 1}})
    assert e.value.response.json()["error"]["message"] == (
        "Invalid requests[0].appendDimension: This action would increase the number of cells in the workbook "
        "above the limit of 10000000 cells."
    )
    with pytest.raises(ApiError, match="above the limit of 10000000 cells"):  # a person cannot either
        fake.insert_rows(key, "提案", 2)
    assert fake.sheet(key, "照会").row_count == 1000 + allowed


def test_a_request_over_ten_megabytes_is_refused(fake: FakeGoogle, gc: gspread.Client, key: str) -> None:
    fake.reset_calls()
    big = [["x" * 40_000] for _ in range(270)]  # ~10.8 MB of JSON
    with pytest.raises(APIError) as e:
        gc.http_client.values_update(key, "提案!A1", params={"valueInputOption": "RAW"}, body={"values": big})
    assert e.value.response.status_code == 400
    assert e.value.response.json()["error"]["message"] == "Request payload size exceeds the limit: 10485760 bytes."
    assert fake.counts(key=key) == Counter({"sheets.values.update": 1})
    assert fake.values(key, "提案") == [["提案ID"], ["R7-0001"]]


def test_429_carries_retry_after_when_asked(fake: FakeGoogle, gc: gspread.Client, key: str) -> None:
    fake.fail_next("429", endpoint="sheets.values", retry_after=7)
    with pytest.raises(APIError) as e:
        values(gc, key, "提案!A1")
    assert e.value.response.status_code == 429 and e.value.response.headers["Retry-After"] == "7"
    fake.fail_next("429", endpoint="sheets.values")
    with pytest.raises(APIError) as e:
        values(gc, key, "提案!A1")
    assert "Retry-After" not in e.value.response.headers


def test_create_honours_locale_and_time_zone() -> None:
    with FakeGoogle(locale="en_US", time_zone="Etc/GMT") as fake:  # what a service account gets by default
        gc = sa_client(fake)
        plain = gc.http_client.request("post", SPREADSHEETS_API_V4_BASE_URL, json={"properties": {"title": "a"}}).json()
        assert (plain["properties"]["locale"], plain["properties"]["timeZone"]) == ("en_US", "Etc/GMT")
        assert plain["sheets"][0]["properties"]["title"] == "Sheet1"
        body = {"properties": {"title": "b", "locale": "ja_JP", "timeZone": "Asia/Tokyo"}}
        made = gc.http_client.request("post", SPREADSHEETS_API_V4_BASE_URL, json=body).json()
        got = gc.http_client.spreadsheets_get(made["spreadsheetId"], {"fields": "properties(locale,timeZone)"})
        assert got == {"properties": {"locale": "ja_JP", "timeZone": "Asia/Tokyo"}}
        assert made["sheets"][0]["properties"]["title"] == "シート1"
        batch_update(
            gc,
            plain["spreadsheetId"],
            {"updateSpreadsheetProperties": {"properties": {"timeZone": "Asia/Tokyo"}, "fields": "timeZone"}},
        )
        assert fake.spreadsheet(plain["spreadsheetId"]).time_zone == "Asia/Tokyo"
        assert fake.spreadsheet(gc.create("c").id).time_zone == "Etc/GMT"  # Drive files.create
        assert not fake.errors


def test_requests_are_counted_per_endpoint_and_spreadsheet(fake: FakeGoogle, gc: gspread.Client, key: str) -> None:
    other = fake.add_spreadsheet("防災政策課")
    fake.at(When.first_write(key), lambda: fake.insert_rows(key, "照会", 2))
    fake.reset_calls()
    values(gc, key, "照会!A1")
    gc.http_client.values_batch_get(key, ["照会!A1", "提案!A1"])
    values(gc, other, "シート1!A1")
    fake.fail_next("503", endpoint="sheets.values.update")
    with pytest.raises(APIError):
        gc.http_client.values_update(key, "照会!B2", params={"valueInputOption": "RAW"}, body={"values": [["x"]]})
    gc.http_client.values_update(key, "照会!B2", params={"valueInputOption": "RAW"}, body={"values": [["x"]]})
    assert fake.counts(key=key) == Counter(
        {"sheets.values.get": 1, "sheets.values.batchGet": 1, "sheets.values.update": 2}
    )
    assert fake.count("sheets", key=other) == 1 and fake.count() == 5
    assert json.dumps(fake.counts(include_token=True)).count("oauth.token") == 1


# ---------------------------------------------------------------- developer metadata
def anchor_rows(gc: gspread.Client, fake: FakeGoogle, key: str) -> int:
    """Row anchors on 照会: metadata 照会ID=<id> on each referral's row, as a store might make them."""
    sid = fake.sheet(key, "照会").sheet_id
    reqs = [
        {
            "createDeveloperMetadata": {
                "developerMetadata": {
                    "metadataKey": "照会ID",
                    "metadataValue": qid,
                    "location": {
                        "dimensionRange": {"sheetId": sid, "dimension": "ROWS", "startIndex": r, "endIndex": r + 1}
                    },
                    "visibility": "DOCUMENT",
                }
            }
        }
        for r, qid in ((1, "Q-001"), (2, "Q-002"), (3, "Q-003"))
    ]
    reply = batch_update(gc, key, *reqs)
    md = reply["replies"][0]["createDeveloperMetadata"]["developerMetadata"]
    assert md["location"] == {
        "locationType": "ROW",
        "dimensionRange": {"sheetId": sid, "dimension": "ROWS", "startIndex": 1, "endIndex": 2},
    }
    return sid


def row_of(gc: gspread.Client, key: str, qid: str) -> int | None:
    lookup = {"developerMetadataLookup": {"metadataKey": "照会ID", "metadataValue": qid}}
    found = gc.http_client.request("post", url(key, "/developerMetadata:search"), json={"dataFilters": [lookup]}).json()
    if not found:
        return None
    [hit] = found["matchedDeveloperMetadata"]
    assert hit["dataFilters"] == [lookup]
    return int(hit["developerMetadata"]["location"]["dimensionRange"]["startIndex"]) + 1


def test_row_metadata_moves_with_its_row(fake: FakeGoogle, gc: gspread.Client, key: str) -> None:
    anchor_rows(gc, fake, key)
    fake.insert_rows(key, "照会", 2)
    assert [row_of(gc, key, q) for q in ("Q-001", "Q-002", "Q-003")] == [3, 4, 5]
    fake.sort_range(key, "照会", "回答期限")  # Q-002 (5/15), Q-001 (6/30), Q-003 (7/1), the empty row last
    assert [row_of(gc, key, q) for q in ("Q-001", "Q-002", "Q-003")] == [3, 2, 4]
    fake.delete_rows(key, "照会", 3)  # Q-001's row: its anchor goes with it
    assert [row_of(gc, key, q) for q in ("Q-001", "Q-002", "Q-003")] == [None, 2, 3]
    fake.append_row(key, "照会", ["Q-004"])
    gc.http_client.values_append(
        key,
        "照会!A1",
        params={"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
        body={"values": [["Q-5"]]},
    )
    assert row_of(gc, key, "Q-003") == 3


def test_values_by_data_filter_follow_the_anchor(fake: FakeGoogle, gc: gspread.Client, key: str) -> None:
    anchor_rows(gc, fake, key)
    lookup = {"developerMetadataLookup": {"metadataKey": "照会ID", "metadataValue": "Q-002"}}
    moment = fake.at(When.first_write(key), lambda: fake.insert_rows(key, "照会", 2, 2))
    body = {
        "valueInputOption": "RAW",
        "data": [{"dataFilter": lookup, "values": [["Q-002", "観光PR", None, "検討中"]]}],
    }
    out = gc.http_client.request("post", url(key, "/values:batchUpdateByDataFilter"), json=body).json()
    assert moment.fired
    assert out == {
        "spreadsheetId": key,
        "totalUpdatedRows": 1,
        "totalUpdatedColumns": 4,
        "totalUpdatedCells": 3,
        "totalUpdatedSheets": 1,
        "responses": [
            {
                "updatedRange": "'照会'!A5:D5",
                "updatedRows": 1,
                "updatedColumns": 4,
                "updatedCells": 3,
                "dataFilter": lookup,
            }
        ],
    }
    assert fake.values(key, "照会")[4] == ["Q-002", "観光PR", 45792, "検討中"]  # on its own row, the date kept
    got = gc.http_client.request(
        "post",
        url(key, "/values:batchGetByDataFilter"),
        json={"dataFilters": [lookup], "valueRenderOption": "UNFORMATTED_VALUE"},
    ).json()
    assert got == {
        "spreadsheetId": key,
        "valueRanges": [
            {
                "valueRange": {
                    "range": "'照会'!A5:Z5",
                    "majorDimension": "ROWS",
                    "values": [["Q-002", "観光PR", 45792, "検討中"]],
                },
                "dataFilters": [lookup],
            }
        ],
    }
    assert fake.counts(key=key)["sheets.values.batchUpdateByDataFilter"] == 1


def test_metadata_update_delete_get_and_in_spreadsheets_get(fake: FakeGoogle, gc: gspread.Client, key: str) -> None:
    sid = anchor_rows(gc, fake, key)
    batch_update(
        gc,
        key,
        {
            "createDeveloperMetadata": {
                "developerMetadata": {
                    "metadataId": 7,
                    "metadataKey": "形式",
                    "metadataValue": "v1",
                    "location": {"sheetId": sid},
                    "visibility": "PROJECT",
                }
            }
        },
    )
    with pytest.raises(APIError, match="already in use"):
        batch_update(
            gc,
            key,
            {
                "createDeveloperMetadata": {
                    "developerMetadata": {
                        "metadataId": 7,
                        "metadataKey": "x",
                        "location": {"spreadsheet": True},
                        "visibility": "DOCUMENT",
                    }
                }
            },
        )
    by_id = {"developerMetadataLookup": {"metadataId": 7}}
    reply = batch_update(
        gc,
        key,
        {
            "updateDeveloperMetadata": {
                "dataFilters": [by_id],
                "developerMetadata": {"metadataValue": "v2"},
                "fields": "metadataValue",
            }
        },
    )
    assert reply["replies"][0]["updateDeveloperMetadata"]["developerMetadata"][0]["metadataValue"] == "v2"
    assert gc.http_client.request("get", url(key, "/developerMetadata/7")).json() == {
        "metadataId": 7,
        "metadataKey": "形式",
        "metadataValue": "v2",
        "location": {"locationType": "SHEET", "sheetId": sid},
        "visibility": "PROJECT",
    }
    sheets = gc.http_client.spreadsheets_get(key, {"fields": "sheets(properties.title,developerMetadata.metadataKey)"})
    assert sheets["sheets"][0]["developerMetadata"] == [{"metadataKey": "照会ID"}] * 3 + [{"metadataKey": "形式"}]
    # rows intersecting 照会!A3:D4, found through an A1 filter
    rows = {"dataFilters": [{"a1Range": "照会!A3:D4"}]}
    found = gc.http_client.request("post", url(key, "/developerMetadata:search"), json=rows).json()
    assert sorted(m["developerMetadata"].get("metadataValue") for m in found["matchedDeveloperMetadata"]) == [
        "Q-002",
        "Q-003",
        "v2",  # the sheet's own metadata intersects every range of the sheet
    ]
    reply = batch_update(
        gc, key, {"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataKey": "照会ID"}}}}
    )
    assert len(reply["replies"][0]["deleteDeveloperMetadata"]["deletedDeveloperMetadata"]) == 3
    with pytest.raises(APIError) as e:
        gc.http_client.request("get", url(key, "/developerMetadata/1000001"))
    assert e.value.response.status_code == 404


# ---------------------------------------------------------------- appendCells, updateCells, atomic batches
def sheet_id(gc: gspread.Client, key: str, title: str) -> int:
    return int(gc.open_by_key(key).worksheet(title).id)


def test_append_cells_lands_below_the_last_row_with_data_and_adds_rows_when_full(
    fake: FakeGoogle, gc: gspread.Client, key: str
) -> None:
    sid = sheet_id(gc, key, "照会")
    fake.sheet(key, "照会").notes[(6, 0)] = "下のメモ"  # A7: a note is not data, the rows land over it
    date_cell = {"userEnteredValue": {"numberValue": 45748}, "userEnteredFormat": {"numberFormat": {"type": "DATE"}}}
    rows = [{"values": [{"userEnteredValue": {"stringValue": "Q-004"}}, {}, date_cell]}]
    out = batch_update(gc, key, {"appendCells": {"sheetId": sid, "rows": rows, "fields": "userEnteredValue"}})
    assert out["replies"] == [{}]
    assert fake.values(key, "照会")[4] == ["Q-004", None, 45748]
    sheet = fake.sheet(key, "照会")
    assert sheet.number_format(4, 2) is None  # the mask names values only: the format is not written
    mask = "userEnteredValue,userEnteredFormat.numberFormat"
    batch_update(gc, key, {"appendCells": {"sheetId": sid, "rows": rows, "fields": mask}})
    assert fake.values(key, "照会")[5] == ["Q-004", None, 45748] and sheet.number_format(5, 2) == {"type": "DATE"}
    assert sheet.note_at("A7") == "下のメモ" and sheet.row_count == 1000
    sheet.row_count = 6  # a full grid: appendCells adds the rows it needs
    batch_update(gc, key, {"appendCells": {"sheetId": sid, "rows": rows * 3, "fields": mask}})
    assert sheet.row_count == 9 and [r[0] for r in fake.values(key, "照会")[6:9]] == ["Q-004"] * 3
    with pytest.raises(APIError, match="At least one field"):
        batch_update(gc, key, {"appendCells": {"sheetId": sid, "rows": rows}})
    with pytest.raises(APIError, match="No grid with id"):
        batch_update(gc, key, {"appendCells": {"sheetId": 424242, "rows": rows, "fields": mask}})


def test_append_cells_honours_protected_ranges(fake: FakeGoogle, protected: tuple[str, int]) -> None:
    key, sid = protected
    staff = user_client(fake, SUZUKI)
    rows = [{"values": [{"userEnteredValue": {"stringValue": "x"}}]}]
    with pytest.raises(APIError) as e:
        batch_update(staff, key, {"appendCells": {"sheetId": sid, "rows": rows, "fields": "userEnteredValue"}})
    assert e.value.response.status_code == 403 and e.value.response.json()["error"]["message"] == PROTECTED_MESSAGE
    assert fake.values(key, "シート1") == []


def test_a_batch_update_is_applied_whole_or_not_at_all(fake: FakeGoogle, gc: gspread.Client, key: str) -> None:
    sid = sheet_id(gc, key, "照会")
    before = fake.values(key, "照会")
    log = {"appendCells": {"sheetId": sid, "rows": [{"values": [{"userEnteredValue": {"stringValue": "Q-9"}}]}]}}
    log["appendCells"]["fields"] = "userEnteredValue"
    cell = {"userEnteredValue": {"stringValue": "=1+1"}}
    update = {
        "updateCells": {
            "start": {"sheetId": sid, "rowIndex": 1, "columnIndex": 1},
            "rows": [{"values": [cell]}],
            "fields": "userEnteredValue",
        }
    }
    too_far = {**update, "updateCells": {**update["updateCells"], "start": {"sheetId": sid, "rowIndex": 5000}}}
    with pytest.raises(APIError) as e:
        batch_update(gc, key, log, update, too_far)
    body = e.value.response.json()["error"]
    assert body["code"] == 400 and body["status"] == "INVALID_ARGUMENT"
    assert body["message"].startswith("Invalid requests[2].updateCells: Range ('照会'!")
    assert fake.values(key, "照会") == before  # neither the appended row nor the first cell
    batch_update(gc, key, log, update)
    grid = fake.values(key, "照会")
    assert grid[1][1] == "=1+1" and grid[-1] == ["Q-9"]  # text given as stringValue stays text
    empty = {**update, "updateCells": {**update["updateCells"], "rows": [{"values": [{}]}]}}
    batch_update(gc, key, empty)  # a CellData without a value under the mask clears the cell
    assert fake.values(key, "照会")[1][1] is None
