"""The ``kouminrenkei`` command line: parse options, call one library function, render, exit.

Only this module imports click. Library errors (errors.py) become one Japanese line on stderr
and the exit code their class names; a person never sees a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cached_property, wraps
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from . import __version__
from .config import Config, load_config
from .errors import KouminrenkeiError
from .store.base import Store

F = TypeVar("F", bound=Callable[..., Any])


class ToolError(click.ClickException):
    """A library error shown as one line, with the exit code of its class."""

    def __init__(self, error: KouminrenkeiError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code

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
    """Turn the library's errors into ToolError (one line, proper exit code)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KouminrenkeiError as e:
            raise ToolError(e) from None

    return wrapper  # type: ignore[return-value]


pass_app = click.make_pass_decorator(AppContext)


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="設定ファイル（既定: $KOUMINRENKEI_CONFIG、なければ ./kouminrenkei.toml）",
)
@click.version_option(__version__, prog_name="kouminrenkei")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """公民連携デスクの台帳を検証・同期し、協定書と公表資料を作ります。"""
    ctx.obj = AppContext(config_path)


# ---------------------------------------------------------------- init / demo
@cli.command()
@click.argument("directory", type=click.Path(file_okay=False), default=".")
@click.option("--backend", type=click.Choice(["xlsx", "gsheets"]), default="xlsx", show_default=True,
              help="台帳の置き場所")
@click.option("--departments", type=click.Choice(["tabs", "books"]), default="tabs", show_default=True,
              help="担当課シートを台帳のタブにするか（tabs）、課ごとの別ブックにするか（books）")
@click.option("--register", default=None, help="gsheets: 台帳スプレッドシートのキーまたはURL")
@click.option("--force", is_flag=True, help="既存の設定ファイルを上書きする")
@handle_errors
def init(directory: str, backend: str, departments: str, register: str | None, force: bool) -> None:
    """設定ファイルと台帳（提案・照会・担当課・選択肢・変更履歴・検証結果）を作ります。"""
    from .setup import init_desk

    result = init_desk(Path(directory), backend=backend, departments=departments, register=register, force=force)
    click.echo(f"設定ファイルを作成しました: {result.config_path}")
    for what in result.created:
        click.echo(f"  作成: {what}")


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False), default="kouminrenkei-demo")
@click.option("--force", is_flag=True, help="既存のフォルダがあっても作り直す")
@click.option("--seed", type=int, default=7, show_default=True, help="サンプルデータの乱数の種")
@handle_errors
def demo(directory: str, force: bool, seed: int) -> None:
    """サンプルの公民連携デスク（.xlsx）を作り、すべての処理を実行します。"""
    from .demo import build_demo

    def say(line: str) -> None:
        click.echo(line)

    build_demo(Path(directory), force=force, seed=seed, echo=say)


# ---------------------------------------------------------------- agreement
@cli.command()
@click.argument("proposal_id", required=False)
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
@handle_errors
@pass_app
def agreement(app: AppContext, proposal_id: str | None, all_: bool, out: str | None, pdf: bool, force: bool) -> None:
    """協定書（包括連携に関する協定書・事業連携協定書）を .docx で作り、台帳に記録します。

    提案IDを一つ指定するか、--all で対象の提案すべてを作ります。作れない提案があると
    終了コードは、提案IDの指定なら 2、--all なら 1 です。
    """
    from .agreements import agreement as make_agreements

    result = make_agreements(app.config, app.store, proposal_id, all_=all_, out=out, pdf=pdf, force=force)
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
    if result.problems:
        click.get_current_context().exit(1)


# ---------------------------------------------------------------- publish / report / history
@cli.command()
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
@handle_errors
@pass_app
def publish(app: AppContext, out: str | None, fiscal_year: int | None) -> None:
    """ウェブサイト掲載用の一覧（index.html・renkei.csv・renkei.xlsx・renkei.json）を作ります。

    公表が「可」で、ステータスが協定締結・実施中・完了の提案だけを載せます。担当者・メール・電話と、
    アイデア保護に挙げた項目はどのファイルにも出しません。
    """
    from .publish import publish as make_publication

    result = make_publication(app.config, app.store, out=out, fiscal_year=fiscal_year)
    click.echo(f"公表資料を作成しました: {result.out_dir}（{len(result.rows)} 件）")
    for path in result.files:
        click.echo(f"  作成: {path.name}")
    for path in result.removed:
        click.echo(f"  削除: {path.name}（publish.cp932 = false のため、古い Shift_JIS 版を消しました）")
    if result.withheld:
        click.echo(f"公表が「可」でないため載せなかった提案: {result.withheld} 件")
    for notice in result.notices:
        click.echo(f"注意: {notice}", err=True)
    for omission in result.cp932_omitted:
        click.echo(f"注意: {omission.message}", err=True)


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "md", "xlsx", "json"]),
    default="text",
    show_default=True,
    help="出力形式",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="出力ファイル（既定: text・md・json は画面、xlsx は設定 report.out のフォルダ）",
)
@click.option("--today", type=DATE, default=None, help="この日を基準に期限超過を判定する（既定: 今日）")
@handle_errors
@pass_app
def report(app: AppContext, fmt: str, out: str | None, today: Any) -> None:
    """デスク向けの状況報告: ステータス別件数、期限を過ぎた照会、処理日数、年度別件数、前回からの変更。

    報告を出力したあと、その時刻を設定 report.out のフォルダ（.last_report.json）に記録し、
    次の報告では、それ以降の変更履歴だけを示します。
    """
    import shutil

    from .reports import default_report_path, mark_reported, render_json, render_markdown, render_text, write_report
    from .reports import report as make_report

    result = make_report(app.config, app.store, today=today)
    if out or fmt == "xlsx":
        path = write_report(result, fmt, Path(out) if out else default_report_path(app.config, result, fmt))
        click.echo(f"状況報告を作成しました: {path}")
    elif fmt == "json":
        click.echo(render_json(result), nl=False)
    elif fmt == "md":
        click.echo(render_markdown(result))
    else:
        click.echo(render_text(result, width=max(80, shutil.get_terminal_size().columns)), nl=False)
    mark_reported(app.config, result)


@cli.command()
@click.argument("proposal_id")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="出力形式"
)
@handle_errors
@pass_app
def history(app: AppContext, proposal_id: str, fmt: str) -> None:
    """一つの提案とその照会について、変更履歴に記録されたすべての変更を古い順に示します。"""
    import shutil

    from .reports import history as proposal_history
    from .reports import render_history_json, render_history_text

    entries = proposal_history(app.config, app.store, proposal_id)
    if fmt == "json":
        click.echo(render_history_json(entries), nl=False)
    else:
        width = max(80, shutil.get_terminal_size().columns)
        click.echo(render_history_text(entries, proposal_id.strip(), width=width), nl=False)


def main() -> None:
    """Entry point of the console script."""
    try:
        cli.main(prog_name="kouminrenkei")
    except KeyboardInterrupt:  # pragma: no cover
        click.echo("中断しました。", err=True)
        sys.exit(130)
