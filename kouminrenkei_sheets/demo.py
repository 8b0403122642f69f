"""``kouminrenkei demo``: a sample desk on local .xlsx files, then every job the project has.

It is the quickest way to see the toolkit work, and a smoke test of every job end to end.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from . import clock
from .config import Config, load_config
from .errors import UsageError
from .init import init_desk
from .sample_data import generate, write_sample
from .store.base import Store

Echo = Callable[[str], None]
DEMO_GOVERNOR = "大井川 和彦"


@dataclass
class DemoResult:
    directory: Path
    config: Config
    store: Store
    steps: list[str] = field(default_factory=list)


def build_demo(directory: Path, *, force: bool = False, seed: int = 7, today: date | None = None,
               echo: Echo = print) -> DemoResult:  # fmt: skip
    """Create the demo desk in ``directory`` and run every job on it."""
    if directory.exists() and any(directory.iterdir()):
        if not force:
            raise UsageError(f"{directory} は既にあります。作り直すときは --force を付けてください。")
        _remove_demo(directory)
    today = today or clock.now_in(clock.zone()).date()  # the demo desk keeps the default zone
    init = init_desk(directory, departments="books", governor=DEMO_GOVERNOR)
    config = load_config(init.config_path)
    store = init.store
    sample = generate(60, seed=seed, today=today)
    write_sample(store, sample)
    result = DemoResult(directory, config, store)

    def step(line: str) -> None:
        result.steps.append(line)
        echo(line)

    step(f"デモの公民連携デスクを作成しました: {directory.resolve()}")
    step(f"  設定ファイル: {init.config_path}")
    config = _add_operations_settings(init.config_path, directory, today)
    step(f"  台帳: {store.display_name(None)} — 提案 {len(sample.proposals)} 件・照会 {len(sample.referrals)} 件・"
         f"担当課 {len(sample.departments)} 課")  # fmt: skip
    for job in _jobs():
        job(config, store, today, step)
    step("完了しました。register.xlsx を Excel や LibreOffice Calc で開いてみてください。")
    return result


def _remove_demo(directory: Path) -> None:
    """Only remove a folder that looks like a demo (has our config), never an arbitrary one."""
    if not (directory / "kouminrenkei.toml").exists():
        raise UsageError(f"{directory} はデモのフォルダではないため消しません。別のフォルダを指定してください。")
    shutil.rmtree(directory)


Job = Callable[[Config, Store, date, Echo], None]


_DEMO_SETTINGS = """
[intake]
defaults = { "提案種別" = "フリー型", "連携手法" = "未定" }

[intake.mapping]
# フォームの質問 = 台帳の列
"会社・団体名" = "提案者名"
"団体の種類" = "提案者区分"
"提案のタイトル" = "件名"
"提案の内容" = "概要"
"連携したい分野" = "連携分野"

[run]
intake_sources = ["forms/*.csv"]

[notify]
host = "localhost"
security = "none"
from = "kouminrenkei@example.lg.jp"
desk = "desk@example.lg.jp"
"""

_FORM_HEADER = (
    "タイムスタンプ",
    "メールアドレス",
    "会社・団体名",
    "団体の種類",
    "提案のタイトル",
    "提案の内容",
    "連携したい分野",
)


def _add_operations_settings(config_path: Path, directory: Path, today: date) -> Config:
    """Intake and notice settings, and a form export with three answers, for the demo."""
    import csv
    from datetime import timedelta

    with config_path.open("a", encoding="utf-8") as f:
        f.write(_DEMO_SETTINGS)
    forms = directory / "forms"
    forms.mkdir(exist_ok=True)
    answers = [
        (today - timedelta(days=3), "info@hitachi-bakery.example.jp", "株式会社ひたちベーカリー", "企業",
         "県産小麦を使ったパンで地産地消", "県産小麦のパンを県内店舗で販売したい。",
         "農林水産、イメージアップ"),
        (today - timedelta(days=2), "npo@tsukuba-kids.example.org", "NPO法人つくばキッズラボ", "NPO・市民団体",
         "小学生向けプログラミング教室", "県内の小学校で出前授業を行いたい。", "子育て・教育、DX"),
        (today - timedelta(days=1), "plan@mito-energy.example.jp", "水戸エナジー株式会社", "企業",
         "避難所への蓄電池の貸与", "災害時に避難所へ蓄電池を無償で貸し出したい。", "防災"),  # 分野 typed loosely
    ]  # fmt: skip
    with (forms / "回答.csv").open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(_FORM_HEADER)
        for when, *rest in answers:
            w.writerow([f"{when:%Y/%m/%d} 10:{len(rest[1]) % 60:02d}:00", *rest])
    return load_config(config_path)


def _intake(config: Config, store: Store, today: date, step: Echo) -> None:
    from .intake import intake

    r = intake(config, store, str(config.resolve("forms/回答.csv")))
    step(f"フォーム取込: {r.summary()} {' '.join(a.proposal_id for a in r.imported)}")


def _validate(config: Config, store: Store, today: date, step: Echo) -> None:
    from .findings import Severity
    from .validate import validate

    rep = validate(config, store, today=today)
    c = rep.counts
    step(
        f"検証: {Severity.LABELS['error']} {c['error']} 件・{Severity.LABELS['warning']} {c['warning']} 件・"
        f"{Severity.LABELS['info']} {c['info']} 件"
        "（台帳の「検証結果」シートと該当セルに表示）"
    )
    for f in rep.findings[:5]:
        step(f"  {f.sheet} {f.row}行 {f.column}: {f.message}")
    if len(rep.findings) > 5:
        step(f"  …ほか {len(rep.findings) - 5} 件")


def _sync_line(label: str, r: object, step: Echo) -> None:
    from .sync import SyncResult

    assert isinstance(r, SyncResult)
    step(f"{label}: {r.summary()}、書き込んだブック {len(r.files_written)}")
    for u in r.rollups:
        step(f"  {u.proposal_id}: {u.old} → {u.new}")
    for c in r.conflicts:
        step(f"  競合 {c.department} {c.key} {c.column}: 「{c.kept}」を採用、「{c.overwritten}」は変更履歴に保存")


def _sync(config: Config, store: Store, today: date, step: Echo) -> None:
    """Sync (creates every department's workbook), let one department answer, sync again."""
    from datetime import datetime

    from .departments import load_departments
    from .refer import refer
    from .schema import PROPOSALS, Answer, Status
    from .store.base import RowKey, SetCell, SheetRef
    from .sync import sync

    now = datetime.combine(today, clock.now(config).time())
    _sync_line("同期（1回目）", sync(config, store, now=now), step)

    # A new proposal from the form is referred to two departments.
    proposals = store.read([SheetRef(PROPOSALS)])[SheetRef(PROPOSALS)]
    received = [r for r in (proposals.rows if proposals else []) if r.get("ステータス") == Status.RECEIVED]
    if received:
        pid = str(received[-1].get("提案ID"))
        res = refer(config, store, pid, ["農業政策課", "販売流通課"], today=today, now=now)
        step(f"照会: {pid} を {'・'.join(x.recipient for x in res.referrals)} へ照会（{res.status_after}）")

    # A department answers in its own workbook, and someone there also retypes a desk-owned title.
    departments = load_departments(config, store)
    for dept in departments.values():
        table = store.read([dept.ref])[dept.ref]
        open_rows = [r for r in (table.rows if table else []) if r.get("回答") in (None, "", Answer.NONE)]
        if not open_rows:
            continue
        row = open_rows[0]
        at = RowKey("照会ID", str(row.get("照会ID")))
        store.apply(
            [
                SetCell(dept.ref, at, "回答", Answer.YES),
                SetCell(dept.ref, at, "回答日", today),
                SetCell(dept.ref, at, "回答理由・コメント", "来年度事業として実施可能"),
                SetCell(dept.ref, at, "件名", f"{row.get('件名')}（課で修正）"),
            ]
        )
        step(f"  {dept.name} が自課のブックで {row.get('照会ID')} に「連携可」と回答し、件名も書き換えました")
        break
    _sync_line("同期（2回目）", sync(config, store, now=now), step)
    again = sync(config, store, now=now)
    step(f"同期（3回目・変更なし）: 書き込んだブック {len(again.files_written)}")


def _agreements(config: Config, store: Store, today: date, step: Echo) -> None:
    from .agreements import agreement

    r = agreement(config, store, all_=True, today=today)
    step(f"協定書: {len(r.documents)} 件作成（{config.agreement.out}/）・作成できない提案 {len(r.problems)} 件")
    for p in r.problems:
        step(f"  {p.message}")


def _publish(config: Config, store: Store, today: date, step: Echo) -> None:
    from .publish import publish

    r = publish(config, store, today=today)
    step(
        f"公表資料: {len(r.rows)} 件（{r.out_dir}/index.html・renkei.csv・renkei.xlsx・renkei.json）"
        f"・公表「可」でない {r.withheld} 件は載せず"
    )
    for n in r.notices:
        step(f"  注意: {n}")


def _report(config: Config, store: Store, today: date, step: Echo) -> None:
    from .reports import default_report_path, mark_reported, report, write_report

    rep = report(config, store, today=today)
    paths = [write_report(rep, fmt, default_report_path(config, rep, fmt)) for fmt in ("md", "xlsx")]
    mark_reported(config, rep)
    step(f"状況報告: {paths[0]}・{paths[1].name}（期限超過の照会 {rep.overdue_count} 件）")


def _notify(config: Config, store: Store, today: date, step: Echo) -> None:
    from .notify import notify

    n = notify(config, store, dry_run=True)
    step(f"メール通知（試行・送信しません）: {n.summary()}")
    for x in n.notices:  # every mail the summary counts
        step(f"  {x.to}: {x.subject}")


def _jobs() -> list[Job]:
    """Every job, in the order a desk would run them."""
    # validate after sync: 検証結果 and the marks describe the sheets as the demo leaves them
    return [_intake, _sync, _validate, _agreements, _publish, _notify, _report]
