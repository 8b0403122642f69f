"""Every sheet the desk keeps: its columns, their value types, owners and choice lists.

This module is the single source of truth. Templates, validation, sync and every output read it.
Another module that names a column does it with a name this schema has — a constant made with
:func:`column_name` (checked when the module is imported), or a literal that tests/test_one_rule.py
checks against the schema — so a header renamed here fails at once wherever it is still used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar


class ValueType(Enum):
    """What kind of value a column holds; decides parsing, validation and cell format."""

    TEXT = "text"
    DATE = "date"
    DATETIME = "datetime"
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"
    EMAIL = "email"
    PHONE = "phone"
    CORPORATE_NUMBER = "corporate_number"
    NUMBER = "number"
    ID = "id"


class Owner(Enum):
    """Who may change a column: the desk (register) or the department answering a referral."""

    DESK = "desk"
    DEPARTMENT = "department"


@dataclass(frozen=True)
class Column:
    name: str
    type: ValueType = ValueType.TEXT
    required: bool = False
    owner: Owner = Owner.DESK
    choices: str | None = None  # name of a list in CHOICE_LISTS / the 選択肢 sheet
    personal: bool = False  # a person's data: never published, never sent to a department
    protectable: bool = False  # may be listed in アイデア保護
    width: int = 14  # column width in characters, for templates
    source: tuple[str, str] | None = None  # department sheets: (register sheet, column) it mirrors
    note: str = ""  # shown as the header cell's comment in templates

    @property
    def is_date(self) -> bool:
        return self.type in (ValueType.DATE, ValueType.DATETIME)


@dataclass(frozen=True)
class Sheet:
    name: str
    columns: tuple[Column, ...]
    key: str | None = None  # the column that identifies a row
    hidden: bool = False
    description: str = ""
    _index: dict[str, Column] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update({c.name: c for c in self.columns})

    @property
    def headers(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return self._index[name]

    def has(self, name: str) -> bool:
        return name in self._index

    @property
    def required(self) -> list[Column]:
        return [c for c in self.columns if c.required]

    def owned_by(self, owner: Owner) -> list[Column]:
        return [c for c in self.columns if c.owner is owner]


# ---------------------------------------------------------------- sheet names
PROPOSALS = "提案"
REFERRALS = "照会"
DEPARTMENTS = "担当課"
CHOICES = "選択肢"
HISTORY = "変更履歴"
FINDINGS = "検証結果"
EXCHANGES = "交流"
SYNC_STATE = "_sync"
DEPARTMENT_TEMPLATE = "照会回答"  # the tab name used inside a department's own workbook


# ---------------------------------------------------------------- statuses and answers
class Status:
    """Proposal statuses (guidelines §3), in process order."""

    RECEIVED = "受付"
    CHECKING = "内容確認中"
    REFERRED = "照会中"
    COORDINATING = "調整中"
    AGREED = "協定締結"
    IMPLEMENTING = "実施中"
    COMPLETED = "完了"
    FAILED = "不成立"
    WITHDRAWN = "取下げ"
    ON_HOLD = "保留"

    ORDER = (RECEIVED, CHECKING, REFERRED, COORDINATING, AGREED, IMPLEMENTING, COMPLETED)
    ENDS = (FAILED, WITHDRAWN, ON_HOLD)
    ALL = ORDER + ENDS
    PUBLISHED = (AGREED, IMPLEMENTING, COMPLETED)


class Answer:
    """A department's answer on a referral."""

    NONE = "未回答"
    EXAMINING = "検討中"
    YES = "連携可"
    NO = "連携不可"
    DISCUSS = "要協議"

    ALL = (NONE, EXAMINING, YES, NO, DISCUSS)
    FINAL = (YES, NO)


class Method:
    """Forms of partnership (guidelines §4)."""

    COMPREHENSIVE = "包括連携協定"
    PROJECT = "事業連携協定"
    NO_AGREEMENT = "協定によらない連携"
    UNDECIDED = "未定"

    ALL = (COMPREHENSIVE, PROJECT, NO_AGREEMENT, UNDECIDED)
    AGREEMENTS = (COMPREHENSIVE, PROJECT)


class Direction:
    PARTNER_TO_PREFECTURE = "企業等→県"
    PREFECTURE_TO_PARTNER = "県→企業等"

    ALL = (PARTNER_TO_PREFECTURE, PREFECTURE_TO_PARTNER)


class Publication:
    YES = "可"
    NO = "不可"
    PENDING = "協議中"

    ALL = (YES, NO, PENDING)


class HistoryKind:
    """種別 of a 変更履歴 row, as staff read it in the sheet (registers before 2026 hold the English ids)."""

    PUSH = "反映"  # register → department sheet
    PULL = "回答取込"  # department sheet → register
    REVERT = "差し戻し"
    CONFLICT = "競合"
    ROLLUP = "ステータス更新"
    REFER = "照会"
    AGREEMENT = "協定書"
    INTAKE = "フォーム取込"
    RESTORE = "行の復元"
    FULL_TEXT = "全文控え"  # text longer than a cell holds: the whole of it, in parts, beside the cut cell

    ALL = (PUSH, PULL, REVERT, CONFLICT, ROLLUP, REFER, AGREEMENT, INTAKE, RESTORE, FULL_TEXT)
    LEGACY: ClassVar[dict[str, str]] = {
        "push": PUSH,
        "pull": PULL,
        "revert": REVERT,
        "conflict": CONFLICT,
        "rollup": ROLLUP,
        "refer": REFER,
        "agreement": AGREEMENT,
        "intake": INTAKE,
        "restore": RESTORE,
    }

    @classmethod
    def label(cls, value: str) -> str:
        """The Japanese 種別 of a stored value: an old English id ("pull") reads as 「回答取込」."""
        return cls.LEGACY.get(value.strip().lower(), value)


MUNICIPALITIES: tuple[str, ...] = (
    # 32 市
    "水戸市", "日立市", "土浦市", "古河市", "石岡市", "結城市", "龍ケ崎市", "下妻市", "常総市",
    "常陸太田市", "高萩市", "北茨城市", "笠間市", "取手市", "牛久市", "つくば市", "ひたちなか市", "鹿嶋市",
    "潮来市", "守谷市", "常陸大宮市", "那珂市", "筑西市", "坂東市", "稲敷市", "かすみがうら市", "桜川市",
    "神栖市", "行方市", "鉾田市", "つくばみらい市", "小美玉市",
    # 10 町
    "茨城町", "大洗町", "城里町", "大子町", "阿見町", "河内町", "八千代町", "五霞町", "境町", "利根町",
    # 2 村
    "東海村", "美浦村",
)  # fmt: skip

FIELDS: tuple[str, ...] = (
    "健康増進・福祉", "観光・産業振興", "安全・安心", "イメージアップ", "災害対策",
    "子育て・教育", "環境", "農林水産", "地域活性化", "DX",
)  # fmt: skip

EXCHANGE_FORMS: tuple[str, ...] = ("意見交換会", "フォーラム", "説明会", "個別対話", "視察・見学", "その他")

PROPOSER_TYPES: tuple[str, ...] = (
    "企業", "大学・研究機関", "NPO・市民団体", "金融機関", "経済団体・組合", "県庁各課", "その他",
)  # fmt: skip

# ---------------------------------------------------------------- 提案
_PROPOSAL_COLUMNS: tuple[Column, ...] = (
    Column("提案ID", ValueType.ID, required=True, width=10, note="年度-連番（例: R7-0001）"),
    Column("受付日", ValueType.DATE, required=True, width=12),
    Column("提案方向", ValueType.CHOICE, required=True, choices="提案方向", width=11),
    Column("提案種別", ValueType.CHOICE, required=True, choices="提案種別", width=10),
    Column("提案者区分", ValueType.CHOICE, required=True, choices="提案者区分", width=14),
    Column("提案者名", required=True, width=26),
    Column("法人番号", ValueType.CORPORATE_NUMBER, width=15, protectable=True),
    Column("所在地", width=30, protectable=True),
    Column("代表者役職", width=14),
    Column("代表者氏名", width=14),
    Column("担当者", personal=True, width=12),
    Column("メール", ValueType.EMAIL, personal=True, width=24),
    Column("電話", ValueType.PHONE, personal=True, width=14),
    Column("件名", required=True, width=34, protectable=True),
    Column("概要", width=50, protectable=True),
    Column("連携分野", ValueType.MULTI_CHOICE, required=True, choices="連携分野", width=22, protectable=True),
    Column("連携手法", ValueType.CHOICE, required=True, choices="連携手法", width=16),
    Column("関係市町村", ValueType.MULTI_CHOICE, choices="市町村", width=18, protectable=True),
    Column("ステータス", ValueType.CHOICE, required=True, choices="ステータス", width=11),
    Column("アイデア保護", ValueType.MULTI_CHOICE, choices="アイデア保護", width=16,
           note="公表・他課へ出さない項目（複数可）"),
    Column("公表", ValueType.CHOICE, choices="公表", width=8),
    Column("協定締結日", ValueType.DATE, width=12),
    Column("協定開始日", ValueType.DATE, width=12),
    Column("協定終了日", ValueType.DATE, width=12),
    Column("自動更新", ValueType.CHOICE, choices="自動更新", width=9),
    Column("協定書", width=30),
    Column("協定書作成日", ValueType.DATE, width=12),
    Column("公表日", ValueType.DATE, width=12),
    Column("連携先名称", width=26, note="県→企業等の提案で連携する企業等（協定書の乙）"),
    Column("連携先所在地", width=30, protectable=True, note="県→企業等の協定書の乙の住所"),
    Column("連携先代表者役職", width=14, note="県→企業等の協定書の乙の代表者の役職"),
    Column("連携先代表者氏名", width=14, note="県→企業等の協定書の乙の代表者の氏名"),
    Column("備考", width=30, protectable=True),
    Column("更新日時", ValueType.DATETIME, width=18),
    Column("受付キー", personal=True, width=20, note="フォーム回答の識別（取込用。タイムスタンプ|メール）"),
)  # fmt: skip

PROPOSAL_SHEET = Sheet(PROPOSALS, _PROPOSAL_COLUMNS, key="提案ID", description="提案の台帳")

# ---------------------------------------------------------------- 照会
_D = Owner.DEPARTMENT
_REFERRAL_COLUMNS: tuple[Column, ...] = (
    Column("照会ID", ValueType.ID, required=True, width=13, note="提案ID-枝番（例: R7-0001-01）"),
    Column("提案ID", ValueType.ID, required=True, width=10),
    Column("照会先", required=True, width=18, note="担当課の課名（県→企業等の提案では企業等の名称）"),
    Column("照会日", ValueType.DATE, required=True, width=12),
    Column("回答期限", ValueType.DATE, width=12, note="空欄なら照会日の30日後"),
    Column("回答", ValueType.CHOICE, choices="回答", owner=_D, width=10),
    Column("回答日", ValueType.DATE, owner=_D, width=12),
    Column("回答理由・コメント", owner=_D, width=40),
    Column("先方担当者", owner=_D, personal=True, width=14),
    Column("次回予定日", ValueType.DATE, owner=_D, width=12),
)  # fmt: skip

REFERRAL_SHEET = Sheet(REFERRALS, _REFERRAL_COLUMNS, key="照会ID", description="照会（提案×照会先）")

# ---------------------------------------------------------------- department sheet
# What a department sees: its referrals, with the proposal's non-personal fields for context.
_DEPARTMENT_COLUMNS: tuple[Column, ...] = (
    Column("照会ID", ValueType.ID, required=True, width=13, source=(REFERRALS, "照会ID")),
    Column("提案ID", ValueType.ID, required=True, width=10, source=(REFERRALS, "提案ID")),
    Column("件名", width=34, source=(PROPOSALS, "件名")),
    Column("提案者名", width=24, source=(PROPOSALS, "提案者名")),
    Column("概要", width=50, source=(PROPOSALS, "概要")),
    Column("連携分野", ValueType.MULTI_CHOICE, choices="連携分野", width=20, source=(PROPOSALS, "連携分野")),
    Column("連携手法", ValueType.CHOICE, choices="連携手法", width=16, source=(PROPOSALS, "連携手法")),
    Column("照会日", ValueType.DATE, width=12, source=(REFERRALS, "照会日")),
    Column("回答期限", ValueType.DATE, width=12, source=(REFERRALS, "回答期限")),
    Column("回答", ValueType.CHOICE, choices="回答", owner=_D, width=10, source=(REFERRALS, "回答")),
    Column("回答日", ValueType.DATE, owner=_D, width=12, source=(REFERRALS, "回答日")),
    Column("回答理由・コメント", owner=_D, width=40, source=(REFERRALS, "回答理由・コメント")),
    Column("先方担当者", owner=_D, personal=True, width=14, source=(REFERRALS, "先方担当者")),
    Column("次回予定日", ValueType.DATE, owner=_D, width=12, source=(REFERRALS, "次回予定日")),
)  # fmt: skip

DEPARTMENT_SHEET = Sheet(
    DEPARTMENT_TEMPLATE, _DEPARTMENT_COLUMNS, key="照会ID",
    description="担当課シート（その課あての照会のみ）",
)  # fmt: skip

# ---------------------------------------------------------------- 交流
# Exchange meetings and forums with partners (guidelines §5). Desk-only: department sheets never see them.
_EXCHANGE_COLUMNS: tuple[Column, ...] = (
    Column("交流ID", ValueType.ID, required=True, width=10, note="例: R7-K01（年度-K連番）"),
    Column("開催日", ValueType.DATE, required=True, width=12),
    Column("名称", required=True, width=30),
    Column("形式", ValueType.CHOICE, required=True, choices="交流形式", width=12),
    Column("参加企業等", width=30, protectable=True, note="複数は「、」区切り"),
    Column("参加課", width=24, note="担当課マスタの課名。複数は「、」区切り"),
    Column("概要", width=50, protectable=True),
    Column("公表", ValueType.CHOICE, choices="公表", width=8),
    Column("アイデア保護", ValueType.MULTI_CHOICE, choices="交流の保護", width=16,
           note="公表しない項目（複数可）"),
    Column("成果", width=20, protectable=True, note="この交流から生まれた提案の提案ID。複数は「、」区切り"),
    Column("担当者", personal=True, width=12, note="デスクの担当者（公表しません）"),
    Column("備考", width=30),
)  # fmt: skip

EXCHANGE_SHEET = Sheet(EXCHANGES, _EXCHANGE_COLUMNS, key="交流ID", description="交流（意見交換会・フォーラム等）")

# ---------------------------------------------------------------- masters and logs
DEPARTMENT_MASTER_SHEET = Sheet(
    DEPARTMENTS,
    (
        Column("部局", required=True, width=16),
        Column("課", required=True, width=20),
        Column("タブ名", width=20, note="空欄なら課名"),
        Column("ブック", width=30, note="空欄なら設定どおり（台帳のタブ、または departments/<課>.xlsx）"),
        Column("連絡先メール", ValueType.EMAIL, width=28),
    ),
    key="課",
    description="担当課マスタ",
)

HISTORY_SHEET = Sheet(
    HISTORY,
    (
        Column("日時", ValueType.DATETIME, required=True, width=18),
        Column("実行者", width=14),
        Column("シート", width=14),
        Column("キー", width=13),
        Column("列", width=16),
        Column("旧値", width=30),
        Column("新値", width=30),
        Column("種別", ValueType.CHOICE, choices="種別", width=10),
    ),
    description="変更履歴（追記のみ）",
)

FINDINGS_SHEET = Sheet(
    FINDINGS,
    (
        Column("実行日時", ValueType.DATETIME, width=18),
        Column("重大度", width=8),
        Column("コード", width=18),
        Column("シート", width=12),
        Column("行", ValueType.NUMBER, width=6),
        Column("列", width=14),
        Column("キー", width=13),
        Column("値", width=24),
        Column("メッセージ", width=70),
    ),
    description="検証結果（validate のたびに書き直し）",
)

NOTIFY_STATE = "_notify"
NOTIFY_SHEET = Sheet(
    NOTIFY_STATE,
    (
        Column("送信日時", ValueType.DATETIME, width=18),
        Column("種類", width=10),
        Column("課", width=20),
        Column("宛先", ValueType.EMAIL, width=28),
        Column("照会ID", ValueType.ID, width=13),
        Column("通知キー", width=40, note="同じ通知を二度送らないための識別"),
    ),
    hidden=True,
    description="送信したメール通知の記録（notify が追記）",
)

# Columns a proposal's アイデア保護 may name.
PROTECTABLE: tuple[str, ...] = tuple(c.name for c in _PROPOSAL_COLUMNS if c.protectable)
# Columns an exchange's アイデア保護 may name.
EXCHANGE_PROTECTABLE: tuple[str, ...] = tuple(c.name for c in _EXCHANGE_COLUMNS if c.protectable)

# The choice lists, one column each in the 選択肢 sheet; the desk may edit them there.
CHOICE_LISTS: dict[str, tuple[str, ...]] = {
    "提案方向": Direction.ALL,
    "提案種別": ("フリー型", "テーマ型"),
    "提案者区分": PROPOSER_TYPES,
    "連携分野": FIELDS,
    "連携手法": Method.ALL,
    "ステータス": Status.ALL,
    "回答": Answer.ALL,
    "公表": Publication.ALL,
    "自動更新": ("あり", "なし"),
    "市町村": MUNICIPALITIES,
    "アイデア保護": PROTECTABLE,
    "種別": HistoryKind.ALL,
    "交流形式": EXCHANGE_FORMS,
    "交流の保護": EXCHANGE_PROTECTABLE,
}

CHOICE_SHEET = Sheet(
    CHOICES,
    tuple(Column(name, width=16) for name in CHOICE_LISTS),
    description="選択肢（各列が一つのリスト。プルダウンの元）",
)

# The register's tabs in the order a workbook shows them.
REGISTER_SHEETS: tuple[Sheet, ...] = (
    PROPOSAL_SHEET,
    REFERRAL_SHEET,
    EXCHANGE_SHEET,
    DEPARTMENT_MASTER_SHEET,
    CHOICE_SHEET,
    HISTORY_SHEET,
    FINDINGS_SHEET,
)


def column_name(sheet: Sheet, name: str) -> str:
    """``name`` if ``sheet`` has that column: how a module outside the schema names one, checked when
    the module is imported (a header renamed in the schema fails at once, not as a blank read)."""
    if not sheet.has(name):
        raise LookupError(f"schema sheet {sheet.name!r} has no column {name!r}")
    return name


SHEETS: dict[str, Sheet] = {s.name: s for s in (*REGISTER_SHEETS, DEPARTMENT_SHEET)}

DEFAULT_ANSWER_DAYS = 30

# Characters one cell holds: an .xlsx cell 32,767, a Google Sheets cell 50,000. The memory backend
# (tests) takes the stricter, so a test catches what either real backend would refuse.
CELL_TEXT_LIMITS = {"xlsx": 32_767, "gsheets": 50_000, "memory": 32_767}


def cell_text_limit(backend: str) -> int:
    """The most characters one cell of this backend holds."""
    return CELL_TEXT_LIMITS.get(backend, min(CELL_TEXT_LIMITS.values()))


def choice_values(list_name: str) -> tuple[str, ...]:
    """The shipped default of a choice list (the desk's 選択肢 sheet overrides it)."""
    return CHOICE_LISTS[list_name]


def department_sheet_named(name: str) -> Sheet:
    """The department sheet's columns under a tab name (a 課 name in the register, or 照会回答)."""
    return Sheet(name, DEPARTMENT_SHEET.columns, key=DEPARTMENT_SHEET.key, description=DEPARTMENT_SHEET.description)


def is_department_sheet(sheet: Sheet) -> bool:
    return sheet.columns == DEPARTMENT_SHEET.columns


def department_desk_columns() -> list[Column]:
    """Columns of a department sheet that the desk owns (put back if a department edits them)."""
    return DEPARTMENT_SHEET.owned_by(Owner.DESK)


def department_answer_columns() -> list[Column]:
    """Columns of a department sheet that the department owns (pulled into 照会)."""
    return DEPARTMENT_SHEET.owned_by(Owner.DEPARTMENT)
