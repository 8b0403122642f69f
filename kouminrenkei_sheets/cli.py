"""The ``kouminrenkei`` command line: parse options, call one library function, render, exit.

Only this module imports click and rich's live console. Every word a person reads is Japanese:
click's own messages go through the catalogue in messages.py (``KOUMINRENKEI_LANG=en`` keeps
click's English for logs). Library errors (errors.py) become one Japanese line on stderr and the
exit code their class names; a person never sees a traceback.
"""

from __future__ import annotations

import gettext
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property, wraps
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from . import __version__
from .config import Config, load_config
from .errors import EXIT_SERVICE, KouminrenkeiError
from .findings import Report
from .messages import CATALOGUE, japanese_os_errors, os_error_text
from .store.base import Store

F = TypeVar("F", bound=Callable[..., Any])
Progress = Callable[[str, int, int], None]

DEFAULT_LIMIT = 100  # lines of a long listing shown in the terminal without --all


def install_japanese_catalogue() -> None:
    """Route click's gettext look-ups (help headings, usage errors …) through the Japanese catalogue."""
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "click" or name.startswith("click.")):
            continue
        if getattr(module, "_", None) is gettext.gettext:
            module._ = CATALOGUE.gettext  # type: ignore[attr-defined]
        if getattr(module, "ngettext", None) is gettext.ngettext:
            module.ngettext = CATALOGUE.ngettext  # type: ignore[attr-defined]


def _display_width(x: str) -> int:
    """Columns a text takes in a terminal: 全角 characters count two (click counts one)."""
    from rich.cells import cell_len

    return cell_len(click.unstyle(x))


install_japanese_catalogue()
click.formatting.term_len = _display_width  # help columns line up with Japanese metavars and headings


def _japanese_metavar(param: click.Parameter) -> None:
    """TEXT / INTEGER / PATH / DIRECTORY in the help become 文字列 / 整数 / パス / フォルダ."""
    if param.metavar is not None or isinstance(param.type, click.Choice):
        return
    if isinstance(param, click.Option) and param.is_flag:
        return
    kind = param.type
    if isinstance(kind, click.Path):
        param.metavar = "フォルダ" if not kind.file_okay else ("ファイル" if not kind.dir_okay else "パス")
    elif isinstance(kind, click.types.IntParamType):
        param.metavar = "整数"
    elif isinstance(kind, click.types.StringParamType):
        param.metavar = "文字列"


def _write_help_text(command: click.Command, formatter: click.HelpFormatter) -> None:
    """The docstring's lines as written: click re-wraps paragraphs by joining lines with a space,
    which puts stray spaces into Japanese sentences (「作れない提案があると 終了コードは」)."""
    import inspect

    text = inspect.cleandoc(command.help or "").partition("\f")[0]
    lines = [line for line in text.splitlines() if line.strip() != "\b"]
    if not lines:
        return
    formatter.write_paragraph()
    with formatter.indentation():
        for line in lines:
            formatter.write(f"{' ' * formatter.current_indent}{line}\n" if line.strip() else "\n")


class Command(click.Command):
    """A command whose usage line, help text and metavars read as Japanese."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("options_metavar", "[オプション]")
        super().__init__(*args, **kwargs)
        for param in self.params:
            _japanese_metavar(param)

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _write_help_text(self, formatter)


class Group(click.Group):
    """The top-level group: Japanese usage line, commands listed with their Japanese summary."""

    command_class = Command

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("options_metavar", "[オプション]")
        kwargs.setdefault("subcommand_metavar", "コマンド [引数]...")
        super().__init__(*args, **kwargs)
        for param in self.params:
            _japanese_metavar(param)

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _write_help_text(self, formatter)


class ToolError(click.ClickException):
    """A library error shown as one line, with the exit code of its class."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(japanese_os_errors(message))
        self.exit_code = exit_code  # type: ignore[misc]  # per error, not per class

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"エラー: {self.format_message()}", err=True)


class AppContext:
    """What every command needs: the configuration and the store, opened on first use."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path

    @cached_property
    def config(self) -> Config:
        return load_config(self.config_path)

    @cached_property
    def store(self) -> Store:
        from .store.factory import open_store

        return open_store(self.config)


def handle_errors(func: F) -> F:
    """Turn the library's errors into ToolError (one line, proper exit code); a lost connection too."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KouminrenkeiError as e:
            raise ToolError(str(e), e.exit_code) from None
        except (ConnectionError, TimeoutError) as e:
            raise ToolError(f"サービスに接続できません: {os_error_text(e)}", EXIT_SERVICE) from None

    return wrapper  # type: ignore[return-value]


pass_app = click.make_pass_decorator(AppContext)


def echo_json(data: Any) -> None:
    """A library result's to_dict() as the command's whole output (UTF-8 Japanese, no escapes)."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def format_option(*choices: str) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices or ("text", "json")),
        default="text",
        show_default=True,
        help="出力形式（json はスクリプト向け。ライブラリの結果 to_dict() と同じ内容）",
    )


quiet_option = click.option("--quiet", "-q", is_flag=True, help="進み具合（標準エラー出力の表示）を出さない")


def limit_options(func: F) -> F:
    func = click.option("--all", "show_all", is_flag=True, help="一覧を省略せずにすべて表示する")(func)

    def at_least_one(ctx: click.Context, param: click.Parameter, value: int) -> int:
        if value < 1:
            raise click.BadParameter(f"{value} 件は表示できません。1 以上の件数を指定してください。")
        return value

    return click.option(
        "--limit",
        type=int,
        callback=at_least_one,
        default=DEFAULT_LIMIT,
        show_default=True,
        metavar="件数",
        help="画面に出す一覧の最大件数（超えた分は件数だけ示す）",
    )(func)


@contextmanager
def progress_display(title: str, *, quiet: bool = False, console: Any = None) -> Iterator[Progress]:
    """A rich progress line on stderr (what is being done, n/total, the current book).

    Nothing is drawn with ``quiet`` or when stderr is not a terminal (cron, a pipe, a log file).
    The callback it yields is what the library functions accept as ``progress=``.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn
    from rich.progress import Progress as Bar

    console = console or Console(stderr=True)
    if quiet or not console.is_terminal:
        yield lambda what, done, total: None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[what]}"))  # fmt: skip
    with Bar(*columns, console=console, transient=True) as bar:
        task = bar.add_task(title, total=None, what="")

        def update(what: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None, what=what, refresh=True)

        yield update


def _limited(lines: list[str], limit: int | None, *, what: str) -> list[str]:
    """The first ``limit`` lines of a long listing and one line saying how many more there are."""
    if limit is None or len(lines) <= limit:
        return lines
    rest = len(lines) - limit
    return [*lines[:limit], f"  …ほか {what} {rest} 件（すべて表示するには --all、件数は --limit N）"]


class DateParam(click.ParamType):
    """A date as staff type it (2025/4/1, 令和7年4月1日, R7.4.1 …), checked at the boundary."""

    name = "日付"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from datetime import date

        from .values import ValueProblem, parse_date

        if isinstance(value, date):
            return value
        try:
            return parse_date(value)
        except ValueProblem as e:
            self.fail(f"{value!r} は日付として読めません: {e}", param, ctx)


DATE = DateParam()


class FiscalYearParam(click.ParamType):
    """A 年度 as staff write it (2025, R7, 令和7年度 …), as the Gregorian year it starts."""

    name = "年度"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from .values import ValueProblem, parse_fiscal_year_code

        if isinstance(value, int):
            return value
        try:
            return parse_fiscal_year_code(value)
        except ValueProblem as e:
            self.fail(f"{value!r} は年度として読めません: {e}", param, ctx)


FISCAL_YEAR = FiscalYearParam()


@click.group("kouminrenkei", cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="ファイル",
    help="設定ファイル（既定: 環境変数 KOUMINRENKEI_CONFIG、なければ今のフォルダかその上の kouminrenkei.toml）",
)
@click.version_option(
    __version__,
    prog_name="kouminrenkei",
    message="%(prog)s バージョン %(version)s",
    help="バージョンを表示して終了します。",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """公民連携デスクの台帳を検証・同期し、協定書と公表資料を作ります。

    \b
    はじめて使うとき: kouminrenkei init（設定ファイルと台帳を作る）、試すだけなら kouminrenkei demo。
    各コマンドの使い方は kouminrenkei コマンド --help で表示します。
    終了コード: 0 正常、1 データに誤り・送れない宛先・作れない協定書がある、2 使い方・設定の誤り、
    3 別の処理が実行中・台帳が開かれている、4 サービス（スプレッドシート・メール）の障害。
    """
    ctx.obj = AppContext(config_path)


# ---------------------------------------------------------------- init / demo
@cli.command(short_help="設定ファイルと台帳を作る（はじめに一度）")
@click.argument("directory", type=click.Path(file_okay=False), default=".", metavar="[フォルダ]")
@click.option(
    "--backend", type=click.Choice(["xlsx", "gsheets"]), default="xlsx", show_default=True, help="台帳の置き場所"
)
@click.option(
    "--departments",
    type=click.Choice(["books", "tabs"]),
    default="books",
    show_default=True,
    help="担当課シートを課ごとの別ブック・別スプレッドシートにするか（books、お勧め）、台帳のタブにするか"
    "（tabs: 台帳を開ける全員に個人情報・保護されたアイデア・他課のタブが見え、"
    "台帳が Excel で開かれている間は同期できません）",
)
@click.option("--register", default=None, metavar="キー", help="gsheets: 台帳スプレッドシートのキーまたはURL")
@click.option(
    "--force", is_flag=True, help="既存の設定ファイルを作り直す（元のファイルは kouminrenkei.toml.bak に残す）"
)
@format_option()
@handle_errors
def init(directory: str, backend: str, departments: str, register: str | None, force: bool, fmt: str) -> None:
    """設定ファイルと台帳（提案・照会・担当課・選択肢・変更履歴・検証結果）を作ります。

    フォルダ（既定: 今のフォルダ）に kouminrenkei.toml と台帳を作ります。設定ファイルが既にあり、
    台帳がまだないときは、設定ファイルはそのままにして、設定が指す台帳だけを作ります。

    担当課シートは既定で課ごとの別ブック（--departments books）です。各課に見えるのは自課あての照会だけで、
    台帳の個人情報・アイデア保護の内容・他の課のシートは見えず、誰かがブックを開いていても同期が止まりません。
    --departments tabs（台帳のタブ）では、台帳を開ける全員にそれらが見え、
    台帳が Excel で開かれている間は同期できません。
    """
    from .init import init_desk

    result = init_desk(Path(directory), backend=backend, departments=departments, register=register, force=force)
    if fmt == "json":
        echo_json(result.to_dict())
        return
    if result.config_written:
        click.echo(f"設定ファイルを作成しました: {result.config_path}")
    else:
        click.echo(f"既存の設定ファイルを使いました（変更していません）: {result.config_path}")
    if result.backup:
        click.echo(f"  元の設定ファイルは {result.backup} に残しました。必要な設定を写してください。")
    for what in result.created:
        click.echo(f"  作成: {what}")
    for note in result.notes:
        click.echo(note, err=result.departments == "tabs")
    click.echo("次は設定ファイルの [desk]（デスク名・県名・知事名）を直し、担当課シートに課を登録してください。")


@cli.command(short_help="サンプルのデスクを作り、すべての処理を試す")
@click.argument("directory", type=click.Path(file_okay=False), default="kouminrenkei-demo", metavar="[フォルダ]")
@click.option("--force", is_flag=True, help="既存のデモのフォルダがあっても作り直す")
@click.option("--seed", type=int, default=7, show_default=True, help="サンプルデータの乱数の種")
@handle_errors
def demo(directory: str, force: bool, seed: int) -> None:
    """サンプルの公民連携デスク（.xlsx）を作り、すべての処理を実行します。

    フォルダの既定は ./kouminrenkei-demo です。
    """
    from .demo import build_demo

    def say(line: str) -> None:
        click.echo(line)

    build_demo(Path(directory), force=force, seed=seed, echo=say)


# ---------------------------------------------------------------- agreement
@cli.command(short_help="協定書（.docx）を作り、台帳に記録する")
@click.argument("proposal_id", required=False, metavar="[提案ID]")
@click.option(
    "--all",
    "all_",
    is_flag=True,
    help="連携手法が包括連携協定・事業連携協定で、ステータスが調整中・協定締結の提案のうち、協定書が未作成のものすべて",
)
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="出力先フォルダ（既定: 設定 agreement.out）"
)
@click.option("--pdf", is_flag=True, help="LibreOffice（soffice）があれば PDF も作る")
@click.option("--force", is_flag=True, help="同じ名前の協定書ファイルがあれば上書きする")
@format_option()
@quiet_option
@handle_errors
@pass_app
def agreement(
    app: AppContext, proposal_id: str | None, all_: bool, out: str | None, pdf: bool, force: bool, fmt: str, quiet: bool
) -> None:
    """協定書（包括連携に関する協定書・事業連携協定書）を .docx で作り、台帳に記録します。

    提案IDを一つ指定するか、--all で対象の提案すべてを作ります。作れない提案があると
    終了コードは、提案IDの指定なら 2、--all なら 1 です。
    """
    from .agreements import agreement as make_agreements

    with progress_display("協定書を作成しています", quiet=quiet or fmt == "json"):
        result = make_agreements(app.config, app.store, proposal_id, all_=all_, out=out, pdf=pdf, force=force)
    if fmt == "json":
        echo_json(result.to_dict())
    else:
        for doc in result.documents:
            click.echo(f"作成: {doc.recorded}（{doc.proposal_id} {doc.partner}）")
            if doc.pdf:
                click.echo(f"作成: {doc.pdf}")
        for notice in result.notices:
            click.echo(f"注意: {notice}", err=True)
        for problem in result.problems:
            click.echo(f"作成できません: {problem.message}", err=True)
        if all_ and not result.documents and not result.problems:
            click.echo("新たに作る協定書はありません。")
    if result.exit_code:
        click.get_current_context().exit(result.exit_code)


# ---------------------------------------------------------------- validate
@cli.command("validate", short_help="台帳と担当課シートを検証し、直す箇所を示す")
@format_option()
@click.option("--no-write-back", is_flag=True, help="検証結果シートとセルの印（塗りとメモ）を書き込まない")
@limit_options
@quiet_option
@handle_errors
@pass_app
def validate_command(app: AppContext, fmt: str, no_write_back: bool, limit: int, show_all: bool, quiet: bool) -> None:
    """台帳と各担当課シートを検証し、直すべき箇所をシート・行・列ごとに示します。

    結果は検証結果シートに書き、該当セルに印（塗りとメモ）を付けます（前回から変わらなければ何も書きません）。
    画面には指摘を --limit 件まで示します（件数の集計はすべて。json はすべての指摘）。

    終了コード: 0 エラーなし、1 エラーあり、2 使い方・設定の誤り。
    """
    from .validate import validate

    with progress_display("検証しています", quiet=quiet) as progress:
        report = validate(app.config, app.store, write_back=not no_write_back, progress=progress)
    if fmt == "json":
        echo_json(report.to_dict())
    else:
        _render_report(report, None if show_all else limit)
    if report.exit_code:
        click.get_current_context().exit(report.exit_code)


def _render_report(report: Report, limit: int | None = None) -> None:
    """Findings grouped by sheet, with counts; plain lines that read well in a log too."""
    from .findings import Severity, count_by_severity

    colors = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}

    def counts_text(counts: dict[str, int]) -> str:
        return "・".join(f"{Severity.LABELS[s]} {counts[s]}件" for s in Severity.ALL)

    shown = 0
    hidden = 0
    for sheet, findings in report.by_sheet().items():
        if limit is not None and shown >= limit:
            hidden += len(findings)
            continue
        click.echo(f"■ {sheet}（{counts_text(count_by_severity(findings))}）")
        for f in findings:
            if limit is not None and shown >= limit:
                hidden += 1
                continue
            shown += 1
            where = "".join(
                part
                for part in (
                    f"{f.row}行目 " if f.row else "",
                    f"{f.column} " if f.column else "",
                    f"[{f.key}] " if f.key else "",
                )
            )
            label = click.style(Severity.LABELS.get(f.severity, f.severity), fg=colors.get(f.severity))
            click.echo(f"  {label} {where}{f.message} ({f.code})")
        click.echo("")
    if hidden:
        click.echo(f"…ほか {hidden} 件の指摘は省略しました（すべて表示するには --all、件数は --limit N）。")
        click.echo("")
    click.echo(f"検証結果: {counts_text(report.counts)}")
    if report.written:
        click.echo("検証結果シートとセルの印を更新しました: " + "、".join(report.written))
    for book, why in report.skipped.items():
        click.echo(f"注意: {book} は書き込めませんでした（{why}）。閉じてから再実行してください。", err=True)


# ---------------------------------------------------------------- publish / report / history
@cli.command(short_help="ウェブサイト掲載用の一覧（HTML・CSV・xlsx・JSON）を作る")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="出力先フォルダ（既定: 設定 publish.out。--fiscal-year 指定時はその下の R7 などのフォルダ）",
)
@click.option(
    "--fiscal-year",
    "fiscal_year",
    type=FISCAL_YEAR,
    default=None,
    help="この年度の取組だけを載せる（例: 2025、R7、令和7年度）",
)
@format_option()
@quiet_option
@handle_errors
@pass_app
def publish(app: AppContext, out: str | None, fiscal_year: int | None, fmt: str, quiet: bool) -> None:
    """ウェブサイト掲載用の一覧（index.html・renkei.csv・renkei.xlsx・renkei.json・kouryu.csv・kouryu.json）を作ります。

    公表が「可」で、ステータスが協定締結・実施中・完了の提案と、開催済みで公表が「可」の交流だけを載せます。
    担当者・メール・電話と、アイデア保護に挙げた項目はどのファイルにも出しません（「非公表」と示します）。
    """
    from .publish import publish as make_publication

    with progress_display("公表資料を作成しています", quiet=quiet or fmt == "json"):
        result = make_publication(app.config, app.store, out=out, fiscal_year=fiscal_year)
    if fmt == "json":
        echo_json(result.to_dict())
        return
    click.echo(f"公表資料を作成しました: {result.out_dir}（{len(result.rows)} 件）")
    for path in result.files:
        click.echo(f"  作成: {path.name}")
    for path in result.removed:
        click.echo(f"  削除: {path.name}（publish.cp932 = false のため、古い Shift_JIS 版を消しました）")
    for folder in result.refreshed:
        click.echo(f"  更新: {folder}（前回の公表資料を現在の台帳で作り直しました）")
    if result.withheld:
        click.echo(f"公表が「可」でないため載せなかった提案: {result.withheld} 件")
    for notice in result.notices:
        click.echo(f"注意: {notice}", err=True)
    for replacement in result.cp932_replaced:
        click.echo(f"注意: {replacement.message}", err=True)


REPORT_SUFFIXES = {"text": ".txt", "md": ".md", "xlsx": ".xlsx", "json": ".json", "html": ".html"}


def report_target(config: Config, result: Any, fmt: str, out: str | None) -> Path:
    """Where ``report --out`` writes: ``--out`` is a folder, like every command's; the file inside is
    named as the default (report-20250701.md). An --out that ends in the format's own extension and is
    not a folder is still taken as the file itself (how report --out worked before)."""
    from .reports import default_report_path

    default = default_report_path(config, result, fmt)
    if out is None:
        return default
    target = Path(out)
    if target.suffix.lower() == REPORT_SUFFIXES[fmt] and not target.is_dir():
        return target
    return target / default.name


@cli.command(short_help="デスク向けの状況報告（件数・期限超過・前回からの変更）")
@format_option("text", "md", "xlsx", "json", "html")
@click.option(
    "--out",
    type=click.Path(),
    default=None,
    metavar="フォルダ",
    help="出力先フォルダ（中に report-年月日.拡張子 を作る。既定: text・md・json は画面、xlsx・html は report.out）",
)
@click.option("--today", type=DATE, default=None, help="この日を基準に期限超過を判定する（既定: 今日）")
@click.option("--mark", is_flag=True, help="この報告を「前回の報告」として記録する（次回は、これ以降の変更だけを示す）")
@quiet_option
@handle_errors
@pass_app
def report(app: AppContext, fmt: str, out: str | None, today: Any, mark: bool, quiet: bool) -> None:
    """デスク向けの状況報告: ステータス別件数、期限を過ぎた照会、処理日数、年度別件数、前回からの変更。

    「前回からの変更」は、--mark を付けて出した最後の報告からの変更履歴です。--mark を付けたときだけ、
    その時刻を設定 report.out のフォルダ（.last_report.json）に記録します（画面で見るだけなら変わりません）。
    定期実行（kouminrenkei run）は記録しません。
    """
    import shutil

    from .reports import mark_reported, render_json, render_markdown, render_text, write_report
    from .reports import report as make_report

    with progress_display("状況報告を集計しています", quiet=quiet):
        result = make_report(app.config, app.store, today=today)
    if out or fmt in ("xlsx", "html"):
        target = report_target(app.config, result, fmt, out)
        target.parent.mkdir(parents=True, exist_ok=True)
        path = write_report(result, fmt, target)
        click.echo(f"状況報告を作成しました: {path}")
    elif fmt == "json":
        click.echo(render_json(result), nl=False)
    elif fmt == "md":
        click.echo(render_markdown(result))
    else:
        click.echo(render_text(result, width=max(80, shutil.get_terminal_size().columns)), nl=False)
    if mark:
        where = mark_reported(app.config, result)
        click.echo(f"この報告を「前回の報告」として記録しました: {where}", err=True)


@cli.command(short_help="一つの提案・照会の変更履歴を古い順に示す")
@click.argument("key", metavar="提案IDまたは照会ID")
@format_option()
@handle_errors
@pass_app
def history(app: AppContext, key: str, fmt: str) -> None:
    """一つの提案とその照会（提案ID、例 R7-0001）、または一つの照会（照会ID、例 R7-0001-01）について、
    変更履歴に記録されたすべての変更を古い順に示します。全角や小文字で入力しても構いません。
    """
    import shutil

    from .reports import history as proposal_history
    from .reports import render_history_json, render_history_text
    from .values import normalize_text

    entries = proposal_history(app.config, app.store, key)
    if fmt == "json":
        click.echo(render_history_json(entries), nl=False)
    else:
        width = max(80, shutil.get_terminal_size().columns)
        click.echo(render_history_text(entries, normalize_text(key).upper(), width=width), nl=False)


# ---------------------------------------------------------------- intake / notify / run
@cli.command("intake", short_help="フォームの回答を提案シートに取り込む")
@click.argument("source", metavar="取込元")
@click.option("--dry-run", is_flag=True, help="取り込む回答を表示するだけで、台帳には書き込まない")
@format_option()
@handle_errors
@pass_app
def intake_command(app: AppContext, source: str, dry_run: bool, fmt: str) -> None:
    """フォームの回答を提案シートに取り込みます（新しい回答だけ、受付の状態で）。

    取込元は回答の CSV（UTF-8 か Shift_JIS）、.xlsx（「form.xlsx#タブ名」でタブを指定）、
    Google スプレッドシートのタブ（gsheets:キー#タブ名、または URL）。質問と台帳の列の対応は
    設定ファイルの [intake] に書きます。回答は回答ID・編集URLの列、なければタイムスタンプ（分まで）・
    メールアドレス・内容で見分け、同じ回答は二度と取り込みません。修正された回答は、受付のままの提案には
    反映し（旧値は変更履歴へ）、それ以外は変更履歴に記録して要確認と表示します。
    """
    from .intake import intake
    from .values import display

    result = intake(app.config, app.store, source, dry_run=dry_run)
    if fmt == "json":
        echo_json(result.to_dict())
        return
    click.echo(result.summary())
    for answer in result.imported:
        click.echo(
            f"  {answer.proposal_id}  受付日 {display(answer.received)}  {answer.proposer}（{answer.source_row}行目）"
        )
        for note in answer.notes:
            click.echo(f"    注意: {note}")
    for edit in result.edited:
        what = "、".join(edit.columns) or "台帳に入らない質問だけ"
        click.echo(f"  {edit.proposal_id}  修正された回答（{edit.source_row}行目、{what}）: {edit.reason}")
    if result.unmapped_questions:
        questions = "、".join(result.unmapped_questions)
        click.echo(f"対応表（[intake] mapping）にない質問（台帳には入りません）: {questions}")
    if result.imported and not dry_run:
        click.echo("値の誤りは kouminrenkei validate で確認できます。")


@cli.command("notify", short_help="担当課への照会・期限のメールと、デスクへの週次まとめを送る")
@click.option(
    "--dry-run", is_flag=True, help="送るメールを表示するだけで、送信も記録もしない（SMTP の設定がなくても使える）"
)
@format_option()
@handle_errors
@pass_app
def notify_command(app: AppContext, dry_run: bool, fmt: str) -> None:
    """担当課に新しい照会と回答期限の近い・過ぎた照会をメールで知らせ、デスクに週次まとめを送ります。

    SMTP の設定は設定ファイルの [notify] に（パスワードは環境変数に）書きます。送ったものは台帳の
    隠しシート _notify に記録し、同じ通知は二度送りません。終了コード: 0 完了、1 送れない宛先あり、
    2 設定の誤り、3 台帳が開かれている・別の通知処理が実行中、4 メールサーバーの障害。
    """
    from .notify import notify

    result = notify(app.config, app.store, dry_run=dry_run)
    if fmt == "json":
        echo_json(result.to_dict())
    else:
        for notice in result.notices:
            mark = "送信済み" if notice.sent else ("送信失敗" if notice.error else "送信予定")
            click.echo(f"■ {mark}: {notice.to}　{notice.subject}")
            if dry_run:
                click.echo("".join(f"    {line}\n" for line in notice.body.splitlines()), nl=False)
        click.echo(result.summary())
    for warning in result.warnings:
        click.echo(f"注意: {warning}", err=True)
    for notice in result.failed:
        click.echo(f"エラー: {notice.error}", err=True)
    if result.exit_code:
        click.get_current_context().exit(result.exit_code)


RUN_STEP_LABELS = {"intake": "フォーム取込", "validate": "検証", "sync": "同期", "notify": "通知"}


@cli.command("run", short_help="定期実行: 取込 → 検証 → 同期 → 通知")
@click.option("--wait", is_flag=True, help="別の同期が実行中なら終わるまで待つ（既定: その回は終了コード 3）")
@format_option()
@quiet_option
@handle_errors
@pass_app
def run_command(app: AppContext, wait: bool, fmt: str, quiet: bool) -> None:
    """定期実行用: 取込 → 検証 → 同期 → 通知 を続けて実行します（cron・systemd タイマー向け）。

    人が対応すべきことがあるときだけ表示します。経過は設定 [run] log のログファイルに残ります。
    状況報告の「前回の報告」は記録しません（記録するのは kouminrenkei report --mark だけです）。
    終了コード: 0 正常、1 台帳にエラー・送れない宛先、2 設定の誤り、3 別の処理が実行中、4 サービスの障害。
    """
    from .run import run

    steps = list(RUN_STEP_LABELS)
    with progress_display("定期実行", quiet=quiet or fmt == "json") as progress:

        def step(name: str) -> None:
            progress(RUN_STEP_LABELS.get(name, name), steps.index(name) if name in steps else 0, len(steps))

        result = run(app.config, app.store, wait=wait, progress=step)
    if fmt == "json":
        echo_json(result.to_dict())
    else:
        for s in result.steps:
            for line in s.attention:
                click.echo(line)
            for line in s.errors:
                click.echo(f"エラー: {line}", err=True)
    if result.exit_code:
        click.get_current_context().exit(result.exit_code)


# ---------------------------------------------------------------- refer / sync
@cli.command("refer", short_help="提案を担当課に照会する（照会シートに行を追加）")
@click.argument("proposal_id", metavar="提案ID")
@click.option(
    "--to",
    "to",
    multiple=True,
    required=True,
    metavar="課",
    help="照会先（担当課マスタの課名。県→企業等の提案では企業等の名称も可）。繰り返して複数指定できます",
)
@click.option("--due", type=DATE, default=None, help="回答期限（既定: 今日から設定 desk.answer_days 日後）")
@format_option()
@handle_errors
@pass_app
def refer_command(app: AppContext, proposal_id: str, to: tuple[str, ...], due: Any, fmt: str) -> None:
    """提案を照会します: 照会先ごとに照会シートへ行を追加し、提案を照会中にします。

    \b
    照会先の課は、先に台帳の担当課シート（担当課マスタ）に登録しておきます。
    照会日は今日、回答は未回答で登録し、変更履歴に記録します。
    知らない提案IDや課名は、何も書き込まずに終了コード 2 で終わります。
    """
    from .refer import refer
    from .values import format_date

    result = refer(app.config, app.store, proposal_id, list(to), due=due)
    if fmt == "json":
        echo_json(result.to_dict())
        return
    for r in result.referrals:
        click.echo(
            f"照会: {r.referral_id} → {r.recipient}（照会日 {format_date(r.referred_on)}、"
            f"回答期限 {format_date(r.due)}）"
        )
    if result.status_changed:
        click.echo(f"ステータス: {result.proposal_id} {result.status_before or '（空欄）'} → {result.status_after}")


@cli.command("sync", short_help="台帳の照会と各担当課シートを同期する")
@click.option("--dry-run", is_flag=True, help="同期の計画を表示するだけで、何も書き込まない")
@click.option("--department", default=None, metavar="課", help="この課のシートだけを同期する")
@format_option()
@click.option("--wait", is_flag=True, help="別の同期が実行中なら終わるまで待つ（既定: 終了コード 3 で終わる）")
@limit_options
@quiet_option
@handle_errors
@pass_app
def sync_command(
    app: AppContext,
    dry_run: bool,
    department: str | None,
    fmt: str,
    wait: bool,
    limit: int,
    show_all: bool,
    quiet: bool,
) -> None:
    """台帳の照会と各担当課シートを同期します。

    \b
    担当課シートには、その課あての照会だけを台帳どおりに表示し、
    課が入力した回答を照会シートへ取り込みます。両方で変わった値は
    所有者（台帳側の列はデスク、回答の列は担当課）の値を採り、
    もう一方を変更履歴に残します。Excel で開かれているブックは次回に回します。
    --dry-run の計画は --limit 件まで示します（--all ですべて）。

    \b
    終了コード: 0 正常、2 使い方・設定の誤り、3 別の同期が実行中。
    """
    from .sync import sync

    with progress_display("同期しています", quiet=quiet or fmt == "json"):
        result = sync(app.config, app.store, dry_run=dry_run, department=department, wait=wait)
    if fmt == "json":
        echo_json(result.to_dict())
    else:
        _render_sync(result, None if show_all else limit)


def _render_sync(result: Any, limit: int | None = None) -> None:
    """A sync result as plain Japanese lines (readable in a terminal and in a scheduler's log)."""
    from .schema import HistoryKind
    from .sync import SyncResult

    assert isinstance(result, SyncResult)
    d = result.to_dict()
    if result.dry_run:
        click.echo("同期の計画（--dry-run: 何も書き込んでいません）")
        lines = []
        for c in result.changes:
            i = c.to_dict()
            kind = f"［{HistoryKind.label(str(i['kind']))}］"
            lines.append(f"  {kind} {i['sheet']} {i['key']} {i['column']}: 「{i['old']}」→「{i['new']}」")
        for line in _limited(lines, limit, what="変更"):
            click.echo(line)
    click.echo(result.summary())
    if d["conflicts"]:
        click.echo("競合（両方で変更されていました。所有者の値を採り、もう一方は変更履歴に残しました）:")
        for c in d["conflicts"]:
            click.echo(
                f"  {c['sheet']} {c['key']} {c['column']}: 採用「{c['kept']}」（{c['winner']}）、"
                f"変更履歴へ「{c['overwritten']}」"
            )
    for r in d["rollups"]:
        click.echo(f"ステータス更新: {r['proposal_id']} {r['old']} → {r['new']}")
    if d["failure_candidates"]:
        click.echo("不成立の候補: " + "、".join(d["failure_candidates"]) + "（すべての回答が連携不可。判断はデスクで）")
    for label, rows in (("担当課が追加した行（同期の対象外）", d["added_rows"]),
                        ("担当課シートから削除されていた行（復元しました）", d["deleted_rows"]),
                        ("照会先の変更・取消しで担当課シートから外した行", d["removed_rows"])):  # fmt: skip
        if rows:
            click.echo(f"{label}:")
            for r in rows:
                where = f"{r['row']}行目 " if r["row"] else ""
                click.echo(f"  {r['sheet']} {where}{r['key'] or '（照会IDなし）'}: {r['reason']}")
    if result.register_busy:
        click.echo(f"注意: 台帳が開かれているため、何も書き込んでいません（{result.register_busy}）。", err=True)
    for book, why in d["skipped_busy"].items():
        if not result.register_busy:
            click.echo(f"注意: {book} は書き込めませんでした（{why}）。次回の同期で反映します。", err=True)
    for problem in d["problems"]:
        click.echo(f"注意: {problem}", err=True)
    for f in d["cut_cells"]:
        click.echo(f"注意: {f['sheet']} {f['key']} {f['column']}: {f['message']}", err=True)
    for f in d["unknown_cells"]:  # formulas without a stored result, error values: left alone
        click.echo(f"注意: {f['sheet']} {f['row']}行目 {f['column']}: {f['message']}", err=True)
    if d["files_written"]:
        click.echo("書き込んだファイル: " + "、".join(d["files_written"]))
    elif not result.dry_run and not result.register_busy and not result.unchanged:
        click.echo("変更はありません（何も書き込んでいません）。")


def main() -> None:
    """Entry point of the console script."""
    try:
        cli.main(prog_name="kouminrenkei")
    except KeyboardInterrupt:  # pragma: no cover
        click.echo("中断しました。", err=True)
        sys.exit(130)
