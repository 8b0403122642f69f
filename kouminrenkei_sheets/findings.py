"""Findings: a person's mistakes in a sheet, as records with a stable code (never exceptions).

Every message template lives here, in Japanese, keyed by the finding's code. ``validate`` builds
findings with :func:`make_finding`; the command line and the 検証結果 sheet show them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import EXIT_DATA, EXIT_OK


class Severity:
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    ALL = (ERROR, WARNING, INFO)
    LABELS: ClassVar[dict[str, str]] = {ERROR: "エラー", WARNING: "警告", INFO: "情報"}


VALUE_LIMIT = 200  # characters of a cell value kept in a finding (a cell may hold 50,000)

# code -> (default severity, message template). Templates are filled with str.format(**params);
# every template may use {sheet}, {column} and {value} besides its own parameters.
MESSAGES: dict[str, tuple[str, str]] = {
    # structure
    "structure.missing_sheet": ("error", "シート「{sheet}」がありません。{hint}"),
    "structure.missing_book": ("warning", "担当課「{department}」のブック {book} を開けません: {reason}"),
    "structure.no_header": (
        "error",
        "シート「{sheet}」の1行目に見出しがありません。1行目に {expected} などの見出しを置いてください"
        "（結合したセルやタイトル行は見出しの上に置けません）。",
    ),
    "structure.missing_column": ("error", "シート「{sheet}」に列「{column}」がありません。{hint}"),
    "structure.duplicate_header": (
        "error",
        "シート「{sheet}」に見出し「{column}」の列が{count}つあります。左の列だけを読みます。1つにしてください。",
    ),
    "structure.empty_list": (
        "warning",
        "選択肢「{column}」が空です。既定の選択肢（{choices}）で検証しました。",
    ),
    # required values
    "required": ("error", "「{column}」が空欄です。{hint}"),
    # types
    "date.invalid": ("error", "{column}を日付として読めません: {reason}"),
    "datetime.invalid": ("error", "{column}「{value}」を日時として読めません（例: 2025/4/1 9:30）。"),
    "email.invalid": ("error", "{column}が正しくありません: {reason}"),
    "phone.invalid": ("error", "{column}が正しくありません: {reason}"),
    "corporate_number.invalid": ("error", "{column}が正しくありません: {reason}"),
    "number.invalid": ("error", "{column}が正しくありません: {reason}"),
    "choice.invalid": ("error", "{column}を選び直してください: {reason}{fix}"),
    # identifiers
    "id.format": ("error", "「{value}」は{column}の形式（{pattern}）ではありません。"),
    "id.fiscal_year": (
        "error",
        "提案ID「{value}」の年度（{id_year}）が受付日 {received} の年度（{received_year}）と合いません。"
        "{expected}で始まるIDにしてください。",
    ),
    "id.mismatch": ("error", "照会ID「{value}」が提案ID「{proposal}」で始まっていません（例: {example}）。"),
    "id.duplicate": ("error", "{column}「{value}」は{first_row}行目と重複しています。別の番号にしてください。"),
    # references
    "ref.proposal": ("error", "提案ID「{value}」の提案が「{proposals}」シートにありません。"),
    "ref.department": ("error", "照会先「{value}」は担当課マスタ（{master}）にありません。{hint}"),
    "department.book_outside": ("error", "この課のブックは開きません: {reason}"),
    "department.renamed": (
        "info",
        "課「{value}」はそのままではシート名・ファイル名に使えない文字か長さのため、{where}になります。",
    ),
    "ref.municipality": ("error", "{column}に{prefecture}の市町村でないものがあります: {reason}{fix}"),
    # 交流 (exchange meetings)
    "exchange.department": ("error", "{column}の「{item}」は担当課マスタ（{master}）にありません。{hint}"),
    "exchange.proposal": ("error", "{column}の提案ID「{item}」の提案が「{proposals}」シートにありません。"),
    "exchange.proposal_format": (
        "error",
        "{column}の「{item}」は提案IDの形式（年度-連番、例: R7-0001）ではありません。複数は「、」で区切ってください。",
    ),
    "exchange.result_order": (
        "warning",
        "{column}の提案「{item}」の受付日 {received} が開催日 {held} より前です。"
        "この交流から生まれた提案か確認してください。",
    ),
    # dates
    "date.order": ("error", "{column} {value} が{other} {other_value} より前になっています。"),
    "date.future": ("error", "{column} {value} が今日（{today}）より後の日付です。"),
    # status and referrals
    "status.referral": ("error", "ステータスが「{status}」ですが、この提案の照会がありません。"),
    "status.feasible": ("error", "ステータスが「{status}」ですが、「連携可」の回答がありません。"),
    "status.failed": (
        "error",
        "ステータスが「{status}」ですが、連携不可以外の回答（{answers}）があります。",
    ),
    "status.agreement_date": ("error", "ステータスが「{status}」ですが、協定締結日が空欄です。"),
    "status.agreement_method": (
        "error",
        "ステータスが「{status}」ですが、連携手法が「{method}」です。{choices}のどちらかにしてください。",
    ),
    "status.skipped": (
        "warning",
        "ステータスが「{status}」ですが、{steps}の段階を経ていません（照会・回答の記録がありません）。",
    ),
    "answer.date_missing": ("warning", "回答が「{answer}」ですが、回答日が空欄です。"),
    "answer.missing": ("warning", "回答日 {answered} がありますが、回答が「{answer}」のままです。"),
    "overdue": (
        "warning",
        "照会先「{department}」の回答期限 {due} を{days}日過ぎています（回答: {answer}）。",
    ),
    "duplicate.proposal": (
        "warning",
        "{other_row}行目の提案「{other_key}」と提案者名・件名がほぼ同じです（{ratio}%一致）。重複登録ではないか確認してください。",
    ),
    "duplicate.referral": (
        "warning",
        "提案「{proposal}」の照会先「{value}」への照会が{first_row}行目にもあります。",
    ),
    # text
    "text.formula": (
        "warning",
        "「{value}」は「{first}」で始まるため、表計算ソフトで数式として扱われるおそれがあります。"
        "先頭に全角文字を置くなどしてください。",
    ),
    "text.platform_chars": (
        "warning",
        "機種依存文字（{chars}）が含まれています。{hint}",
    ),
    "text.control_chars": ("warning", "制御文字（{chars}）が含まれています。削除してください。"),
    "cell.unknown": ("error", "{column}の{reason}。{effect}"),
    "text.surrogate": (
        "warning",
        "{column}に壊れた文字（対になっていないサロゲート）が{count}個あり、置換文字「\ufffd」として読みました。"
        "元の文字を入力し直してください。",
    ),
    "text.cut": (
        "warning",
        "{column}が{length:,}文字あり、担当課シートの1セル（{limit:,}文字）に収まらないため、途中までを表示しています"
        "（セルの末尾にそう書いてあります。全文は台帳にあります）。",
    ),
    "text.shown_cut": (
        "info",
        "長すぎて1セルに収まらないため、全{total}文字のうち{visible}文字までを表示しています。全文は{kept}にあります。",
    ),
    "text.too_long": (
        "error",
        "{length:,}文字あり、1セルの上限（{limit:,}文字）を超えています。このままでは書き込むときに切れるため、"
        "内容を分けるか短くしてください。",
    ),
}


def message(code: str, **params: Any) -> str:
    """The Japanese message of a finding code, filled in."""
    return MESSAGES[code][1].format(**params)


def default_severity(code: str) -> str:
    return MESSAGES[code][0]


@dataclass(frozen=True)
class Finding:
    """One problem at one place. ``row`` is the spreadsheet row (header = 1); ``key`` the row's ID."""

    code: str
    severity: str
    sheet: str
    row: int | None
    column: str | None
    key: str | None
    value: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "key": self.key,
            "value": self.value,
            "message": self.message,
        }


def shorten(text: str, limit: int = VALUE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def make_finding(
    code: str,
    *,
    sheet: str,
    row: int | None = None,
    column: str | None = None,
    key: str | None = None,
    value: str | None = None,
    severity: str | None = None,
    **params: Any,
) -> Finding:
    """A finding whose message comes from the template of ``code``.

    ``value`` is the cell as a person reads it; it is shortened for the record and the message.
    """
    shown = None if value is None else shorten(value)
    text = message(
        code,
        sheet=sheet,
        column=column or "",
        value=shorten(value, 40) if value is not None else "",
        **params,
    )
    return Finding(code, severity or default_severity(code), sheet, row, column, key, shown, text)


@dataclass
class Report:
    """What ``validate`` found, and what it wrote back."""

    findings: list[Finding] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # books written back (display names)
    skipped: dict[str, str] = field(default_factory=dict)  # book -> why it was not written back

    @property
    def counts(self) -> dict[str, int]:
        return count_by_severity(self.findings)

    @property
    def valid(self) -> bool:
        return self.counts[Severity.ERROR] == 0

    @property
    def exit_code(self) -> int:
        """1 (data) when there is an error to fix, else 0."""
        return EXIT_OK if self.valid else EXIT_DATA

    def by_sheet(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for f in self.findings:
            out.setdefault(f.sheet, []).append(f)
        return out

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def where(self, code: str | None = None, *, sheet: str | None = None) -> list[Finding]:
        """Findings with this code and/or on this sheet (tests and callers filter with it)."""
        return [f for f in self.findings if (code is None or f.code == code) and (sheet is None or f.sheet == sheet)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "counts": self.counts,
            "findings": [f.to_dict() for f in self.findings],
        }


def count_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    c = Counter(f.severity for f in findings)
    return {s: c.get(s, 0) for s in Severity.ALL}
