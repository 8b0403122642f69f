"""Build the shipped agreement templates (.docx for docxtpl) from their reviewable text source.

Usage: ``python scripts/build_agreement_templates.py [--out DIR] [--check]``. Each
``templates/source/<name>.txt`` becomes ``templates/<name>.docx``; the line format is described at
the top of each source file. ``--check`` rebuilds in memory and exits 1 if a committed .docx drifted.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Length, Mm, Pt
from docx.styles.style import ParagraphStyle

PACKAGE = Path(__file__).resolve().parent.parent / "kouminrenkei_sheets"
TEMPLATE_DIR = PACKAGE / "templates"
SOURCE_DIR = TEMPLATE_DIR / "source"

# ＭＳ 明朝 is on every Windows PC (LGWAN included) and is what official documents are set in;
# LibreOffice substitutes a Mincho face where it is missing.
FONT = "ＭＳ 明朝"
SIZE = 11.0  # pt; indents are counted in characters of this size
FIXED_TIME = datetime(2025, 4, 1, tzinfo=UTC)  # core properties: keep builds byte-stable

DIRECTIVES = ("title", "para", "article", "clause", "item", "tag", "table", "row", "blank", "date", "sign")
_LINE = re.compile(r"^(?P<kind>[a-z]+):(?: (?P<text>.*))?$")
_REF = re.compile(r"\[\[([^\]]+)\]\]")


class SourceError(Exception):
    """A line of a template source cannot be understood."""


@dataclass
class Block:
    kind: str  # title, para, heading, clause, item, tag, blank, date, sign, table
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)  # table: header row first


def _article_number(n: int) -> str:
    return f"第{n}条"


def parse_source(text: str, name: str = "source") -> list[Block]:
    """Turn a source text into blocks, numbering articles (第N条) and their clauses (2, 3 …)."""
    raw: list[tuple[int, str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        m = _LINE.match(line.rstrip())
        if not m or m["kind"] not in DIRECTIVES:
            raise SourceError(f"{name}:{number}: 「{line}」の記号が分かりません（{', '.join(DIRECTIVES)}）")
        raw.append((number, m["kind"], m["text"] or ""))

    numbers: dict[str, int] = {}
    for _, kind, content in raw:
        if kind == "article":
            numbers.setdefault(content.strip(), len(numbers) + 1)

    def refs(number: int, content: str) -> str:
        def one(m: re.Match[str]) -> str:
            heading = m.group(1).strip()
            if heading not in numbers:
                raise SourceError(f"{name}:{number}: [[{heading}]] という見出しの条がありません")
            return _article_number(numbers[heading])

        return _REF.sub(one, content)

    blocks: list[Block] = []
    article = 0
    clause = 0
    table: Block | None = None
    for number, kind, content in raw:
        content = refs(number, content)
        if kind == "row":
            if table is None:
                raise SourceError(f"{name}:{number}: row: の前に table: がありません")
            cells = content.split(" | ")
            if len(cells) != len(table.rows[0]):
                raise SourceError(f"{name}:{number}: 表の列の数が見出し行（{len(table.rows[0])}列）と違います")
            table.rows.append(cells)
            continue
        table = None
        if kind == "article":
            article += 1
            clause = 0
            blocks.append(Block("heading", f"（{content.strip()}）"))
        elif kind == "clause":
            if article == 0:
                raise SourceError(f"{name}:{number}: clause: の前に article: がありません")
            clause += 1
            prefix = _article_number(article) if clause == 1 else str(clause)
            blocks.append(Block("clause", f"{prefix}　{content}"))
        elif kind == "table":
            table = Block("table", rows=[content.split(" | ")])
            blocks.append(table)
        else:
            blocks.append(Block(kind, content))
    return blocks


# ---------------------------------------------------------------- document
def _set_fonts(rpr: Any) -> None:
    """Explicit Mincho for every script (a ``w:rPr`` element), replacing the theme fonts."""
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in list(fonts.attrib):
        del fonts.attrib[attr]
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), FONT)
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "ja-JP")
    lang.set(qn("w:bidi"), "ar-SA")


def _setup_styles(doc: DocumentObject) -> dict[str, ParagraphStyle]:
    styles = doc.styles
    defaults = styles.element.find(qn("w:docDefaults"))
    rpr_default = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    _set_fonts(rpr_default)
    ppr_default = defaults.find(qn("w:pPrDefault")).find(qn("w:pPr"))
    spacing = ppr_default.find(qn("w:spacing"))
    spacing.attrib.clear()
    spacing.set(qn("w:after"), "0")
    spacing.set(qn("w:line"), "240")
    spacing.set(qn("w:lineRule"), "auto")

    normal = styles["Normal"]
    normal.font.size = Pt(SIZE)
    _set_fonts(normal.element.get_or_add_rPr())
    normal.paragraph_format.space_after = Pt(0)
    normal.paragraph_format.space_before = Pt(0)
    normal.paragraph_format.widow_control = True

    def chars(n: float) -> Length:
        return Pt(SIZE * n)

    one = chars(1)

    def style(name: str) -> ParagraphStyle:
        s = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        assert isinstance(s, ParagraphStyle)
        s.base_style = normal
        s.quick_style = True
        return s

    out: dict[str, ParagraphStyle] = {}
    s = style("協定 表題")
    s.font.size = Pt(SIZE + 3)
    s.font.bold = True
    s.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    s.paragraph_format.keep_with_next = True
    out["title"] = s

    s = style("協定 段落")
    s.paragraph_format.first_line_indent = one
    s.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    out["para"] = s

    s = style("協定 条見出し")
    s.paragraph_format.left_indent = one
    s.paragraph_format.keep_with_next = True
    s.paragraph_format.space_before = Pt(SIZE / 2)
    out["heading"] = s

    s = style("協定 条文")
    s.paragraph_format.left_indent = one
    s.paragraph_format.first_line_indent = -one
    s.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    out["clause"] = s

    s = style("協定 号")
    s.paragraph_format.left_indent = chars(2.5)
    s.paragraph_format.first_line_indent = -chars(1.5)
    out["item"] = s

    s = style("協定 日付")
    s.paragraph_format.left_indent = chars(2)
    out["date"] = s

    s = style("協定 署名")
    s.paragraph_format.left_indent = chars(15)
    s.paragraph_format.keep_with_next = True
    out["sign"] = s

    s = style("協定 表")
    out["cell"] = s
    return out


def _page(doc: DocumentObject) -> None:
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = section.bottom_margin = Mm(30)
    section.left_margin = section.right_margin = Mm(25)


def _table(doc: DocumentObject, rows: list[list[str]], cell_style: ParagraphStyle) -> None:
    table = doc.add_table(rows=len(rows), cols=len(rows[0]))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    widths = [Mm(32), Mm(80), Mm(48)] if len(rows[0]) == 3 else []
    for r, cells in enumerate(rows):
        for c, text in enumerate(cells):
            cell = table.cell(r, c)
            if widths:
                cell.width = widths[c]
            p = cell.paragraphs[0]
            p.style = cell_style
            run = p.add_run(text)
            if r == 0:
                run.bold = True
                p.alignment = WD_ALIGN_PARAGRAPH.CENTER


def build_document(blocks: list[Block], title: str) -> DocumentObject:
    doc = Document()
    _page(doc)
    styles = _setup_styles(doc)
    props = doc.core_properties
    props.title = title
    props.author = props.last_modified_by = "kouminrenkei"
    props.comments = "scripts/build_agreement_templates.py で原稿から作成"
    props.created = props.modified = FIXED_TIME
    props.revision = 1
    for block in blocks:
        if block.kind == "table":
            _table(doc, block.rows, styles["cell"])
        elif block.kind == "blank":
            doc.add_paragraph("", styles["para"])
        elif block.kind == "tag":
            doc.add_paragraph(block.text)
        else:
            doc.add_paragraph(block.text, styles[block.kind])
    return doc


def build_template(source: Path) -> bytes:
    blocks = parse_source(source.read_text(encoding="utf-8"), source.name)
    doc = build_document(blocks, source.stem)
    buf = io.BytesIO()
    doc.save(buf)
    return _stable_zip(buf.getvalue())


def _stable_zip(data: bytes) -> bytes:
    """The same parts with fixed timestamps and order, so a rebuild is byte-for-byte identical."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2025, 4, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def sources(source_dir: Path = SOURCE_DIR) -> list[Path]:
    return sorted(source_dir.glob("*.txt"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=TEMPLATE_DIR, help="where the .docx go")
    parser.add_argument("--check", action="store_true", help="only report templates that drifted")
    args = parser.parse_args(argv)
    drifted = []
    for source in sources():
        target = args.out / f"{source.stem}.docx"
        try:
            data = build_template(source)
        except SourceError as e:
            print(e, file=sys.stderr)
            return 2
        if args.check:
            if not target.is_file() or target.read_bytes() != data:
                drifted.append(target)
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".docx.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
        print(f"wrote {target}")
    for target in drifted:
        print(f"{target} does not match its source; run scripts/build_agreement_templates.py", file=sys.stderr)
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
