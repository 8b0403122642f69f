"""Agreement documents (協定書): a .docx per proposal from a docxtpl template, optionally a PDF.

``agreement()`` reads the 提案 tab, fills the template of the proposal's 連携手法 (包括連携協定 or
事業連携協定), writes the file atomically, and records its path and date on the proposal and in 変更履歴.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from . import clock
from .config import Config
from .departments import safe_file_name
from .errors import EXIT_DATA, EXIT_OK, ConfigError, DataError, StoreError, UsageError
from .files import atomic_write
from .schema import (
    CHOICES,
    HISTORY,
    HISTORY_SHEET,
    PROPOSAL_SHEET,
    PROPOSALS,
    Direction,
    HistoryKind,
    Method,
    Status,
)
from .store.base import (
    WRITE_LOCK_WAIT,
    AppendRows,
    CellValue,
    Change,
    EnsureSheet,
    Row,
    RowKey,
    SetCell,
    SheetRef,
    Store,
    Table,
    WriteConflict,
    conflict_history,
    history_row,
)
from .values import (
    ValueProblem,
    display,
    is_blank,
    match_choice,
    match_multi_choice,
    normalize_text,
    parse_date,
    split_multi,
    to_wareki,
)
from .workflow import choice_key, choice_list

# The shipped template of each form of partnership; a desk's own folder may hold the same names.
TEMPLATE_FILES: dict[str, str] = {
    Method.COMPREHENSIVE: "包括連携協定書.docx",
    Method.PROJECT: "事業連携協定書.docx",
}
# --all makes the documents of proposals in these statuses that have none yet.
SELECTED_STATUSES: tuple[str, ...] = (Status.COORDINATING, Status.AGREED)
FILE_PREFIX = "協定書"
AUTO_RENEW_YES = "あり"
PDF_TIMEOUT_SECONDS = 180

# Columns of 提案 read and written here. For a 県→企業等 proposal 乙 comes from the 連携先 columns.
PARTNER_COLUMNS = ("連携先名称", "連携先所在地", "連携先代表者役職", "連携先代表者氏名")
ID = "提案ID"
DIRECTION = "提案方向"
NAME = "提案者名"
ADDRESS = "所在地"
TITLE = "代表者役職"
REPRESENTATIVE = "代表者氏名"
SUBJECT = "件名"
FIELDS = "連携分野"
METHOD = "連携手法"
STATUS = "ステータス"
MUNICIPALITIES = "関係市町村"
SIGNED = "協定締結日"
START = "協定開始日"
END = "協定終了日"
AUTO_RENEW = "自動更新"
DOCUMENT = "協定書"
DOCUMENT_DATE = "協定書作成日"
GOVERNOR_SETTING = "desk.governor"
PREFECTURE_SETTING = "desk.prefecture"

for _column in (ID, DIRECTION, NAME, ADDRESS, TITLE, REPRESENTATIVE, SUBJECT, FIELDS, METHOD, STATUS, MUNICIPALITIES,
                SIGNED, START, END, AUTO_RENEW, DOCUMENT, DOCUMENT_DATE):  # fmt: skip
    assert PROPOSAL_SHEET.has(_column), _column  # schema.py is the single source of headers

_PROPOSALS = SheetRef(PROPOSALS)
_CHOICES = SheetRef(CHOICES)
_HISTORY = SheetRef(HISTORY)

# 件名 endings that only say "a proposal / agreement / partnership about …", dropped to get a
# 事業連携協定's theme: 「健康ポイント事業での連携」 prints 「健康ポイント事業に関する事業連携協定書」,
# not 「…でに関する…」.
# A bare 事業 stays (健康ポイント事業); only 「…に関する事業」-like endings lose it.
_THEME_PARTICLE = (
    r"(?:に関する|に関わる|に係る|に係わる|についての|における|に於ける|に向けた|を通じた|による|に基づく"
    r"|での|との|のための|の)"
)
_THEME_NOUN = (
    r"(?:事業連携協定書?|包括連携協定書?|連携協定書?|協定書?|提案書?|連携事業|連携|協力|協働|取組み?|取り組み)"
)
_THEME_SUFFIX = re.compile(rf"(?:{_THEME_PARTICLE}?{_THEME_NOUN}|{_THEME_PARTICLE}事業|について)$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class AgreementDocument:
    """A document written: where, for which proposal, and the PDF beside it if one was made."""

    proposal_id: str
    partner: str
    method: str
    path: Path
    recorded: str  # the value written to 協定書 (relative to the config folder when inside it)
    pdf: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "proposal_id": self.proposal_id,
            "partner": self.partner,
            "method": self.method,
            "path": str(self.path),
            "recorded": self.recorded,
            "pdf": str(self.pdf) if self.pdf else None,
        }


@dataclass(frozen=True)
class AgreementProblem:
    """Why one proposal got no document; ``missing`` names every empty field or setting."""

    proposal_id: str
    message: str
    missing: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"proposal_id": self.proposal_id, "message": self.message, "missing": list(self.missing)}


@dataclass
class AgreementResult:
    """What :func:`agreement` did. ``selected`` counts the proposals it tried."""

    documents: list[AgreementDocument] = field(default_factory=list)
    problems: list[AgreementProblem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # e.g. no LibreOffice for --pdf
    selected: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        """1 (data) when a document could not be made: the proposal's row needs a person."""
        return EXIT_OK if self.ok else EXIT_DATA

    def to_dict(self) -> dict[str, Any]:
        return {
            "selected": self.selected,
            "documents": [d.to_dict() for d in self.documents],
            "problems": [p.to_dict() for p in self.problems],
            "notices": list(self.notices),
        }


class _CannotDraft(Exception):
    def __init__(self, problem: AgreementProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class _Draft:
    row: Row
    proposal_id: str
    method: str
    partner: str
    context: dict[str, Any]
    target: Path
    pdf_target: Path | None = None
    written: bool = False  # this run wrote the file
    replaced: bool = False  # … over an older one (--force): kept even if recording fails


# ---------------------------------------------------------------- the command
def agreement(
    config: Config,
    store: Store,
    proposal_id: str | None = None,
    *,
    all_: bool = False,
    out: str | os.PathLike[str] | None = None,
    pdf: bool = False,
    force: bool = False,
    today: date | None = None,
) -> AgreementResult:
    """Make the agreement document of one proposal, or with ``all_`` of every proposal that needs one.

    One proposal: a missing field, an unknown ID or an existing file (without ``force``) raises
    UsageError and writes nothing. ``all_``: each proposal's problem goes to ``result.problems`` and
    the others are still made. Paths and dates are recorded with one ``store.apply``.
    """
    if bool(proposal_id) == all_:
        raise UsageError("提案IDか --all のどちらか一方を指定してください。")
    with store.lock(ttl_seconds=config.sync.lock_ttl, wait_seconds=WRITE_LOCK_WAIT):
        return _agreement(config, store, proposal_id, all_=all_, out=out, pdf=pdf, force=force, today=today)


def _agreement(
    config: Config,
    store: Store,
    proposal_id: str | None,
    *,
    all_: bool,
    out: str | os.PathLike[str] | None,
    pdf: bool,
    force: bool,
    today: date | None,
) -> AgreementResult:
    today = today or clock.today(config)
    tables = store.read([_PROPOSALS, _CHOICES])
    proposals = tables[_PROPOSALS]
    if proposals is None:
        raise StoreError(f"{store.display_name(None)}にシート「{PROPOSALS}」がありません。")
    field_choices = choice_list(tables[_CHOICES], FIELDS)
    renew_choices = choice_list(tables[_CHOICES], AUTO_RENEW)
    out_dir = Path(out) if out is not None else config.resolve(config.agreement.out)
    result = AgreementResult()

    rows = [_find(proposals, proposal_id)] if proposal_id else _select(proposals)
    result.selected = len(rows)
    drafts: list[_Draft] = []
    for row in rows:
        try:
            draft = _draft(config, row, field_choices, renew_choices, out_dir)
            if draft.target.exists() and not force:
                raise _CannotDraft(_exists_problem(draft))
        except _CannotDraft as e:
            if not all_:
                raise UsageError(e.problem.message) from None
            result.problems.append(e.problem)
            continue
        drafts.append(draft)
    if not drafts:
        return result

    out_dir.mkdir(parents=True, exist_ok=True)
    templates = {m: _template_path(config, m) for m in {d.method for d in drafts}}
    try:
        for draft in drafts:
            data = render_agreement(draft.context, templates[draft.method])
            draft.replaced = draft.target.exists()
            try:
                atomic_write(draft.target, data, replace=force)
            except FileExistsError:  # appeared since we looked
                problem = _exists_problem(draft)
                if not all_:
                    raise UsageError(problem.message) from None
                result.problems.append(problem)
                continue
            draft.written = True
        made = [d for d in drafts if d.written]
        made = _refused(_record(config, store, proposals, made, today), made, result, all_=all_)
    except BaseException:
        for d in drafts:
            if d.written and not d.replaced:  # not recorded: leave no stray file for --force to need
                d.target.unlink(missing_ok=True)
        raise

    for d in made:
        pdf_path = _make_pdf(d, force, result) if pdf else None
        result.documents.append(
            AgreementDocument(d.proposal_id, d.partner, d.method, d.target, _recorded_path(config, d.target), pdf_path)
        )
    return result


def render_agreement(context: Mapping[str, Any], template: Path) -> bytes:
    """The .docx bytes of ``template`` filled with ``context`` (values XML-escaped by docxtpl)."""
    from docx.opc.exceptions import PackageNotFoundError
    from docxtpl import DocxTemplate
    from jinja2 import TemplateError

    try:
        doc = DocxTemplate(str(template))
        doc.render(dict(context), autoescape=True)
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError) as e:
        raise ConfigError(f"協定書のひな形 {template} を Word 文書として読めません: {e}") from None
    except TemplateError as e:
        raise ConfigError(f"協定書のひな形 {template} の差し込みタグが正しくありません: {e}") from None
    _set_properties(doc, context)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


_THUMBNAIL_REL = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail"


def _set_properties(doc: Any, context: Mapping[str, Any]) -> None:
    """The document's own properties, not the template's: title and subject from the proposal, the desk
    as author, created now; the template's description, keywords, revision and thumbnail removed."""
    partner = context.get("partner") or {}
    now = datetime.now(UTC).replace(microsecond=0)  # core properties are stored in UTC
    props = doc.core_properties
    props.title = f"協定書（{context.get('proposal_id', '')} {partner.get('name', '')}）".replace(" ）", "）")
    props.subject = str(context.get("subject", ""))
    props.author = str(context.get("desk", ""))
    props.last_modified_by = str(context.get("desk", ""))
    props.created = now
    props.modified = now
    props.comments = ""
    props.keywords = ""
    props.category = "協定書"
    props.revision = 1
    package = doc.docx.part.package if hasattr(doc, "docx") else doc.part.package
    for rel_id, rel in list(package.rels.items()):
        if rel.reltype == _THUMBNAIL_REL:
            del package.rels[rel_id]  # an unreferenced part is not saved
    for part in package.iter_parts():
        if str(part.partname) == "/docProps/app.xml":
            # python-docx keeps app.xml as plain bytes (no API): name this tool, not the template's editor.
            blob = re.sub(rb"<Application>[^<]*</Application>", b"<Application>kouminrenkei-sheets</Application>",
                          part.blob)  # fmt: skip
            blob = re.sub(rb"<Template>[^<]*</Template>", b"", blob)
            part._blob = blob


def pdf_converter() -> str | None:
    """The LibreOffice executable, if installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_to_pdf(docx: Path, target: Path, *, overwrite: bool, soffice: str | None = None) -> None:
    """Convert with ``soffice --headless --convert-to pdf`` into a temp folder, then place atomically.

    Raises FileNotFoundError without LibreOffice, FileExistsError when ``target`` exists and
    ``overwrite`` is false, RuntimeError (Japanese message) when the conversion fails.
    """
    soffice = soffice or pdf_converter()
    if soffice is None:
        raise FileNotFoundError("soffice")
    if target.exists() and not overwrite:
        raise FileExistsError(str(target))
    with tempfile.TemporaryDirectory(prefix="kouminrenkei-pdf-") as tmp:
        # Its own profile, so a LibreOffice the person has open does not swallow the request.
        profile = (Path(tmp) / "profile").as_uri()
        command = [soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", "pdf",
                   "--outdir", tmp, str(docx)]  # fmt: skip
        try:
            proc = subprocess.run(command, capture_output=True, timeout=PDF_TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"LibreOffice が {PDF_TIMEOUT_SECONDS} 秒以内に PDF を作りませんでした") from None
        produced = Path(tmp) / f"{docx.stem}.pdf"
        if proc.returncode != 0 or not produced.is_file():
            detail = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError(
                f"LibreOffice の変換に失敗しました（終了コード {proc.returncode}"
                + (f"、{detail[-1]}" if detail else "")
                + "）"
            )
        atomic_write(target, produced.read_bytes(), replace=overwrite)


# ---------------------------------------------------------------- choosing proposals
def _find(proposals: Table, proposal_id: str) -> Row:
    key = normalize_text(proposal_id).upper()
    for candidate_key, row in proposals.by_key(ID).items():
        if normalize_text(candidate_key).upper() == key:
            return row
    raise UsageError(f"提案ID「{proposal_id}」は{PROPOSALS}シートにありません。")


def _select(proposals: Table) -> list[Row]:
    """Proposals under an agreement method, in 調整中 or 協定締結, with no document recorded yet."""
    return [
        row
        for row in proposals.rows
        if choice_key(row.get(METHOD)) in Method.AGREEMENTS
        and choice_key(row.get(STATUS)) in SELECTED_STATUSES
        and is_blank(row.get(DOCUMENT))
        and not is_blank(row.get(ID))
    ]


# ---------------------------------------------------------------- the document's content
def _text(value: CellValue) -> str:
    """A cell as the document prints it: what the person typed, on one line, no control characters."""
    return _CONTROL.sub("", _LINE_BREAKS.sub(" ", display(value))).strip()


def _theme(subject: str, fields: Sequence[str]) -> str:
    """What a 事業連携協定 is about: the 件名 without 「…に関する提案」-like endings, else the field."""
    theme = subject.strip()
    for _ in range(4):
        theme = _THEME_SUFFIX.sub("", theme).strip(" 　・、")
    return theme or (fields[0] if fields else "")


def _agreement_method(row: Row, pid: str, where: str) -> str:
    """The proposal's 連携手法 if it is one an agreement is drafted for; else the draft is refused."""
    method_raw = row.get(METHOD)
    method = choice_key(method_raw)
    if method not in Method.AGREEMENTS:
        shown = display(method_raw) or "空欄"
        message = (
            f"提案 {pid}（{where}）の{METHOD}が「{shown}」のため協定書は作りません。"
            f"{'・'.join(Method.AGREEMENTS)}のどちらかにしてください。"
        )
        raise _CannotDraft(AgreementProblem(pid, message, (METHOD,) if shown == "空欄" else ()))
    return method


def _refuse_if_incomplete(config: Config, pid: str, where: str, missing: list[str], wrong: list[str]) -> None:
    """One problem naming every blank item, every unreadable value and every empty setting, if any."""
    settings: list[str] = []
    if not config.desk.governor.strip():
        settings.append(GOVERNOR_SETTING)
    if not config.desk.prefecture.strip():
        settings.append(PREFECTURE_SETTING)
    if not (missing or wrong or settings):
        return
    parts = [f"提案 {pid}（{where}）の協定書を作れません。"]
    if missing:
        parts.append(f"空欄の項目: {'、'.join(missing)}。")
    parts.extend(f"{w}。" for w in wrong)
    if settings:
        labels = {GOVERNOR_SETTING: "知事名", PREFECTURE_SETTING: "県名"}
        shown = "、".join(f"{s}（{labels[s]}）" for s in settings)
        parts.append(f"{config.where} の {shown}が空です。")
    raise _CannotDraft(AgreementProblem(pid, "".join(parts), (*missing, *settings)))


def _desk_context(config: Config) -> dict[str, str]:
    """甲's part of every document: the prefecture, the governor, the desk, its address line and the
    印 after each name (記名押印), from [desk] and [agreement] seal."""
    seal = config.agreement.seal.strip()
    return {
        "prefecture": config.desk.prefecture.strip(),
        "governor": config.desk.governor.strip(),
        "desk_address": config.desk.address.strip(),
        "seal": f"　{seal}" if seal else "",
        "desk": "".join(config.desk.name.split()),
    }


def _draft(
    config: Config, row: Row, field_choices: Sequence[str], renew_choices: Sequence[str], out_dir: Path
) -> _Draft:
    """The context of one agreement document, or :class:`_CannotDraft` saying all that is missing."""
    pid = normalize_text(row.get(ID)).upper()
    where = f"{PROPOSALS}シート {row.number}行目"
    missing: list[str] = []
    wrong: list[str] = []

    def required(column: str) -> str:
        value = row.get(column)
        if is_blank(value):
            missing.append(column)
            return ""
        return _text(value)

    def when(column: str, *, needed: bool) -> date | None:
        value = row.get(column)
        if is_blank(value):
            if needed:
                missing.append(column)
            return None
        try:
            return parse_date(value)
        except ValueProblem as e:
            wrong.append(f"{column}「{display(value)}」: {e.reason}")
            return None

    method = _agreement_method(row, pid, where)

    # 乙: the proposer, or for a 県→企業等 proposal (proposed by one of the prefecture's own sections)
    # the accepting partner of the 連携先 columns.
    to_partner = choice_key(row.get(DIRECTION)) == Direction.PREFECTURE_TO_PARTNER
    columns = PARTNER_COLUMNS if to_partner else (NAME, ADDRESS, TITLE, REPRESENTATIVE)
    name, address, title, representative = (required(c) for c in columns)
    fields: list[str] = []
    if is_blank(row.get(FIELDS)):
        missing.append(FIELDS)
    else:
        try:
            fields = match_multi_choice(row.get(FIELDS), field_choices)
        except ValueProblem as e:
            wrong.append(f"{FIELDS}「{display(row.get(FIELDS))}」: {e.reason}")
    signed = when(SIGNED, needed=True)
    start = when(START, needed=False) or signed
    end = when(END, needed=True)
    if start and end and end < start:
        wrong.append(f"{END}「{display(row.get(END))}」が開始日（{display(start)}）より前です")
    auto_renew = False
    if not is_blank(row.get(AUTO_RENEW)):
        try:
            auto_renew = match_choice(row.get(AUTO_RENEW), renew_choices) == AUTO_RENEW_YES
        except ValueProblem as e:
            wrong.append(f"{AUTO_RENEW}「{display(row.get(AUTO_RENEW))}」: {e.reason}")
    municipalities = split_multi(row.get(MUNICIPALITIES))

    _refuse_if_incomplete(config, pid, where, missing, wrong)

    assert signed is not None and start is not None and end is not None
    subject = _text(row.get(SUBJECT))
    context: dict[str, Any] = {
        **_desk_context(config),
        "proposal_id": pid,
        "partner": {"name": name, "address": address, "title": title, "representative": representative},
        "subject": subject,
        "theme": _theme(subject, fields),
        "items": fields,
        "municipalities": "、".join(municipalities),
        "date": to_wareki(signed),
        "start_date": to_wareki(start),
        "end_date": to_wareki(end),
        "auto_renew": auto_renew,
    }
    file_name = safe_file_name(f"{FILE_PREFIX}_{pid}_{name}", ".docx")  # any partner name: within 200 bytes
    target = out_dir / file_name
    return _Draft(row, pid, method, name, context, target, target.with_suffix(".pdf"))


def _exists_problem(draft: _Draft) -> AgreementProblem:
    return AgreementProblem(
        draft.proposal_id,
        f"{draft.target} は既にあります。作り直すときは --force を付けてください（上書きされます）。",
    )


def _template_path(config: Config, method: str) -> Path:
    name = TEMPLATE_FILES[method]
    if config.agreement.templates:
        folder = config.resolve(config.agreement.templates)
        if not folder.is_dir():
            raise ConfigError(f"{config.where} の agreement.templates のフォルダ {folder} がありません。")
        own = folder / name
        if own.is_file():
            return own
    return _shipped(name)


def _shipped(name: str) -> Path:
    resource = resources.files("kouminrenkei_sheets") / "templates" / name
    path = Path(str(resource))
    if not path.is_file():  # pragma: no cover - the package ships both
        raise ConfigError(f"同梱の協定書ひな形 {name} が見つかりません。パッケージを入れ直してください。")
    return path


# ---------------------------------------------------------------- writing
def _recorded_path(config: Config, path: Path) -> str:
    """The path as the register keeps it: relative to the config folder when inside it."""
    try:
        return path.resolve().relative_to(config.base_dir.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def _record(config: Config, store: Store, proposals: Table, made: Sequence[_Draft], today: date) -> list[WriteConflict]:
    """One batch: 協定書 and 協定書作成日 on each proposal row, and a 変更履歴 row per changed cell.
    Returns the cells the register refused (changed or deleted since it was read), which are then
    in 変更履歴 as conflicts with both values."""
    if not made:
        return []
    changes: list[Change] = []
    if not (proposals.has(DOCUMENT) and proposals.has(DOCUMENT_DATE)):
        changes.append(EnsureSheet(_PROPOSALS, PROPOSAL_SHEET))
    if HISTORY not in store.sheet_names(None):
        changes.append(EnsureSheet(_HISTORY, HISTORY_SHEET))
    now = clock.now(config)
    actor = config.actor
    history: list[dict[str, CellValue]] = []
    for d in made:
        for column, value in ((DOCUMENT, _recorded_path(config, d.target)), (DOCUMENT_DATE, today)):
            old = d.row.get(column)
            changes.append(SetCell(_PROPOSALS, RowKey(ID, d.proposal_id), column, value, expected=old))
            history.append(
                history_row(
                    now=now, actor=actor, sheet=PROPOSALS, key=d.proposal_id, column=column,
                    old=old, new=value, kind=HistoryKind.AGREEMENT,
                )
            )  # fmt: skip
    changes.append(AppendRows(_HISTORY, tuple(history)))
    conflicts = store.apply(changes).conflicts
    if conflicts:
        store.apply([AppendRows(_HISTORY, conflict_history(conflicts, actor=actor, now=now))])
    return conflicts


def _refused(
    conflicts: Sequence[WriteConflict], made: Sequence[_Draft], result: AgreementResult, *, all_: bool
) -> list[_Draft]:
    """The drafts whose 協定書 cell was written. A proposal whose row or cell a person changed while
    the document was being made is a problem (the person's value stays); a new file its 協定書 does
    not name is removed, so the files on disk are the ones the register records."""
    if not conflicts:
        return list(made)
    by_key: dict[str, list[WriteConflict]] = {}
    for c in conflicts:
        by_key.setdefault(normalize_text(c.key).upper(), []).append(c)
    kept: list[_Draft] = []
    for d in made:
        refused = by_key.get(d.proposal_id, [])
        if not refused:
            kept.append(d)
            continue
        details = "、".join(f"「{c.column}」{c.reason}" for c in refused)
        message = (
            f"提案 {d.proposal_id} の協定書を作りましたが、書き込む間に{PROPOSALS}シートが変えられたため"
            f"記録できませんでした（{details}）。変更履歴を確認し、必要なら作り直してください。"
        )
        if not all_:  # one proposal: an error, and its new file removed like any unrecorded one
            raise DataError(message.replace("作りましたが", "作ろうとしましたが"))
        result.problems.append(AgreementProblem(d.proposal_id, message))
        if any(c.column == DOCUMENT for c in refused):
            if not d.replaced:
                d.target.unlink(missing_ok=True)
            continue
        kept.append(d)
    return kept


def _make_pdf(draft: _Draft, force: bool, result: AgreementResult) -> Path | None:
    target = draft.pdf_target
    assert target is not None
    soffice = pdf_converter()
    if soffice is None:
        notice = "LibreOffice（soffice）がインストールされていないため、PDF は作成しませんでした（.docx は作成済み）。"
        if notice not in result.notices:
            result.notices.append(notice)
        return None
    try:
        convert_to_pdf(draft.target, target, overwrite=force, soffice=soffice)
    except FileExistsError:
        result.notices.append(f"{target} は既にあるため PDF は作りませんでした（--force で上書き）。")
        return None
    except RuntimeError as e:
        result.notices.append(f"{draft.proposal_id} の PDF を作れませんでした: {e}")
        return None
    return target
