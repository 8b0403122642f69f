"""``kouminrenkei run``: the scheduled sequence intake → validate → sync → notify, for cron or systemd.

Every step runs even when an earlier one failed (a broken mail server must not stop sync). The
exit code says what needs a person; each run's outcome goes to a rotating log file.
"""

from __future__ import annotations

import glob
import logging
import logging.handlers
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import clock
from .config import Config, RunSettings
from .errors import EXIT_DATA, EXIT_OK, EXIT_PRIORITY, ConfigError, KouminrenkeiError, WorkbookBusyError
from .store.base import WRITE_LOCK_WAIT, Store
from .store.sources import is_remote

LOGGER_NAME = "kouminrenkei.run"


def run_settings(config: Config) -> RunSettings:
    """``[run]``, read and checked with the whole config (defaults when the file has none)."""
    return config.run


# ---------------------------------------------------------------- results
@dataclass
class StepResult:
    """One step of a run: what it did in one line, and anything a person should see."""

    name: str  # intake / validate / sync / notify
    summary: str
    exit_code: int = EXIT_OK
    attention: list[str] = field(default_factory=list)  # lines for a person (printed by the command)
    errors: list[str] = field(default_factory=list)  # the tool failing (one line each)
    notes: list[str] = field(default_factory=list)  # for the log only (repeats every run, e.g. a missing address)
    skipped: bool = False
    postponed: bool = False  # left for the next run (a book open in Excel …)
    result: Any = None  # the job's own result object

    def to_dict(self) -> dict[str, Any]:
        inner = self.result
        if isinstance(inner, list):
            detail: Any = [r.to_dict() for r in inner]
        else:
            detail = inner.to_dict() if inner is not None and hasattr(inner, "to_dict") else None
        return {
            "step": self.name,
            "summary": self.summary,
            "exit_code": self.exit_code,
            "skipped": self.skipped,
            "attention": list(self.attention),
            "errors": list(self.errors),
            "result": detail,
        }


@dataclass
class RunResult:
    started: datetime
    steps: list[StepResult] = field(default_factory=list)
    log_path: Path | None = None

    @property
    def exit_code(self) -> int:
        return first_priority(s.exit_code for s in self.steps)

    @property
    def needs_attention(self) -> bool:
        return any(s.attention or s.errors for s in self.steps)

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat(timespec="seconds"),
            "exit_code": self.exit_code,
            "log": str(self.log_path) if self.log_path else None,
            "steps": [s.to_dict() for s in self.steps],
        }


# ---------------------------------------------------------------- the sequence
def run(
    config: Config,
    store: Store,
    *,
    now: datetime | None = None,
    wait: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """intake (each configured source) → sync → validate → notify; never stops half way.

    The whole run holds the write lock (each step takes it again, which is kept), so no other job
    writes between its steps; every step reads the sheets afresh. validate comes after sync, so
    検証結果 and the marks describe the sheets as the run leaves them. ``wait`` waits a while for
    another job's lock instead of ending busy; ``progress`` is told the name of each step as it
    starts. run never records the status report's 「前回の報告」 marker.
    """
    settings = run_settings(config)
    now = now or clock.now(config)
    result = RunResult(now, log_path=config.resolve(settings.log))
    assert result.log_path is not None
    logger, handler = _open_log(result.log_path, settings, config)
    try:
        logger.info("開始（設定 %s）", config.path or "（なし）")
        inputs = _inputs(config, settings, now)
        last = _quiet(config, store, inputs) if inputs is not None else None
        if last is not None:  # what the last run found still holds: said again, with its exit code
            attention = [str(line) for line in last.get("attention", [])]
            code = int(last.get("exit_code", EXIT_OK))
            result.steps.append(StepResult("run", QUIET, exit_code=code, attention=attention, skipped=True))
            logger.log(logging.WARNING if code else logging.INFO, "%s（終了コード %d）", QUIET, code)
            return result
        try:
            lock = store.lock(ttl_seconds=config.sync.lock_ttl, wait_seconds=WRITE_LOCK_WAIT if wait else 0)
            lock.__enter__()
        except KouminrenkeiError as e:
            result.steps.append(StepResult("lock", f"次回に持ち越し: {e}", exit_code=e.exit_code, errors=[str(e)]))
            logger.warning("%s", e)
            return result
        steps: list[tuple[str, Callable[[], StepResult]]] = [
            ("intake", lambda: _intake(config, store, settings, now)),
            ("sync", lambda: _sync(config, store, now, wait=wait)),
            ("validate", lambda: _validate(config, store, now)),
            ("notify", lambda: _notify(config, store, settings, now)),
        ]
        try:
            for name, body in steps:
                if progress is not None:
                    progress(name)
                result.steps.append(_step(name, logger, body))
        finally:
            lock.__exit__(None, None, None)
        # data errors stay until a person fixes them (a quiet run repeats them); anything else is run again
        complete = result.exit_code in (EXIT_OK, EXIT_DATA) and not any(s.postponed for s in result.steps)
        attention = [line for s in result.steps for line in s.attention]
        kept = {"inputs": inputs, "exit_code": result.exit_code, "attention": attention}
        store.save_record(RUN_RECORD, kept if complete and inputs is not None else None)
        level = logging.INFO if result.exit_code == EXIT_OK else logging.WARNING
        logger.log(level, "終了（終了コード %d）", result.exit_code)
    finally:
        logger.removeHandler(handler)
        handler.close()
    return result


# A quiet run: when the last run went through (exit 0 or 1, nothing left for later) on the same day, with
# the same settings and the same intake files, and no book changed since the last sync's own writes,
# nothing can differ — intake would import nothing, sync and validate find what they found — so the
# run reads nothing and takes no lock. Not when mails are to be sent (notify is time-driven) or a
# form is read from Google Sheets (its version is not looked up).
RUN_RECORD = "run-inputs"
QUIET = "前回の実行から変わったブック・取込元はありません（読み込み・書き込みなし）"


def _inputs(config: Config, settings: RunSettings, now: datetime) -> dict[str, Any] | None:
    """What a run depends on besides the books, or None when a quiet run cannot be told cheaply."""
    from .notify import is_configured

    if settings.notify and is_configured(config):
        return None
    files: list[list[Any]] = []
    for source in expand_sources(config, settings.intake_sources):
        if is_remote(source):
            return None
        try:
            st = os.stat(source)
            files.append([source, st.st_mtime_ns, st.st_size])
        except OSError:
            files.append([source, None, None])
    return {"date": now.date().isoformat(), "config": config.digest, "sources": files}


def _quiet(config: Config, store: Store, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """The last run's record when nothing it depended on has changed since (else None)."""
    from .sync import unchanged_since_last_sync

    record = store.load_record(RUN_RECORD)
    if record is None or record.get("inputs") != inputs:
        return None
    return record if unchanged_since_last_sync(config, store) is not None else None


def _open_log(
    path: Path, settings: RunSettings, config: Config
) -> tuple[logging.Logger, logging.handlers.RotatingFileHandler]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=settings.log_max_bytes, backupCount=settings.log_backups, encoding="utf-8"
        )
    except OSError as e:
        raise ConfigError(
            f"{config.where} の run.log のログファイル {path} に書き込めません: {e.strerror or e}"
        ) from None
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    formatter.converter = clock.log_converter(clock.desk_zone(config))  # the desk's time, like the sheets
    handler.setFormatter(formatter)
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the log file only; a scheduler's mail carries only what the command prints
    logger.addHandler(handler)
    return logger, handler


def _step(name: str, logger: logging.Logger, body: Callable[[], StepResult]) -> StepResult:
    try:
        step = body()
    except WorkbookBusyError as e:
        # Someone has the register open in Excel: an everyday situation, the next run catches up.
        step = StepResult(name, f"次回に持ち越し: {e}", postponed=True)
    except KouminrenkeiError as e:
        step = StepResult(name, f"失敗: {e}", exit_code=e.exit_code, errors=[str(e)])
        logger.error("%s: %s", name, step.summary)
        return step
    except Exception:
        logger.exception("%s: 予期しないエラー", name)
        raise
    for line in step.errors:
        logger.error("%s: %s", name, line)
    for line in step.notes:
        logger.warning("%s: %s", name, line)
    logger.log(logging.WARNING if step.attention else logging.INFO, "%s: %s", name, step.summary)
    return step


def first_priority(codes: Iterable[int]) -> int:
    """Of several exit codes, the one a person must act on first (0 when all are 0)."""
    present = set(codes)
    return next((c for c in EXIT_PRIORITY if c in present), EXIT_OK)


def expand_sources(config: Config, sources: tuple[str, ...]) -> list[str]:
    """Configured sources with paths made absolute; ``forms/*.csv`` stands for every matching file."""
    out: list[str] = []
    for source in sources:
        if is_remote(source):
            out.append(source)
        elif glob.has_magic(source):
            out.extend(sorted(glob.glob(str(config.resolve(source)))))
        else:
            path, hash_, tab = source.partition("#")
            resolved = str(config.resolve(source))
            if hash_ and not config.resolve(source).exists():
                resolved = f"{config.resolve(path)}#{tab}"
            out.append(resolved)
    return out


# ---------------------------------------------------------------- the steps
def _intake(config: Config, store: Store, settings: RunSettings, now: datetime) -> StepResult:
    from .intake import intake

    sources = expand_sources(config, settings.intake_sources)
    if not sources:
        return StepResult("intake", "取込元の設定なし（run.intake_sources）", skipped=True)
    results = []
    errors: list[tuple[str, KouminrenkeiError]] = []
    for source in sources:
        try:
            results.append(intake(config, store, source, now=now))
        except WorkbookBusyError:
            raise
        except KouminrenkeiError as e:
            errors.append((source, e))
    imported = [a for r in results for a in r.imported]
    step = StepResult("intake", f"{len(imported)} 件取込（取込元 {len(sources)} 件）", result=results)
    if imported:
        ids = "、".join(a.proposal_id for a in imported)
        step.attention.append(f"新しい提案を {len(imported)} 件取り込みました: {ids}")
    refused = [c for r in results for c in r.conflicts]
    if refused:  # rows or cells people changed while intake wrote: not written, kept in 変更履歴
        step.attention.append(
            f"書き込む間に提案シートが変えられたため、取込で {len(refused)} 件を書き込めなかったので"
            "変更履歴に残しました: " + "、".join(c.describe() for c in refused)
        )
    step.errors.extend(f"取込元 {source}: {error}" for source, error in errors)
    step.exit_code = first_priority(e.exit_code for _, e in errors)
    for r in results:
        if r.unmapped_questions and r.imported:
            step.notes.append(f"{r.source} の対応表にない質問（台帳に入りません）: {'、'.join(r.unmapped_questions)}")
    return step


def _validate(config: Config, store: Store, now: datetime) -> StepResult:
    from .findings import Severity
    from .validate import validate

    report = validate(config, store, write_back=True, today=now.date())
    counts = report.counts
    text = "・".join(f"{Severity.LABELS.get(k, k)} {v}件" for k, v in counts.items())
    step = StepResult("validate", f"検証 {text}", result=report)
    step.exit_code = report.exit_code
    if not report.valid:
        step.attention.append(
            f"台帳にエラーが {counts.get(Severity.ERROR, 0)} 件あります。"
            "検証結果シート（または kouminrenkei validate）を見てください。"
        )
    return step


def _sync(config: Config, store: Store, now: datetime, *, wait: bool = False) -> StepResult:
    from .sync import sync

    result = sync(config, store, now=now, wait=wait)
    step = StepResult(
        "sync",
        f"同期 {result.summary()}",
        result=result,
    )
    if result.conflicts:
        step.attention.append(
            f"同期で競合が {len(result.conflicts)} 件ありました（採らなかった値は変更履歴に残しています）。"
            "kouminrenkei sync --dry-run か変更履歴シートで確認してください。"
        )
    if result.write_conflicts:  # cells people changed while sync wrote: left as they typed them
        step.attention.append(
            f"書き込む間にシートが変えられたため、同期で {len(result.write_conflicts)} 件を書き込めなかったので"
            "変更履歴に残しました（次回の同期で改めて判断します）: "
            + "、".join(c.describe() for c in result.write_conflicts)
        )
    step.attention.extend(f"同期できなかった担当課シート: {p}" for p in result.problems)
    return step


def _notify(config: Config, store: Store, settings: RunSettings, now: datetime) -> StepResult:
    from .notify import is_configured, notify

    if not settings.notify or not is_configured(config):
        return StepResult("notify", "メール通知の設定なし（[notify]）", skipped=True)
    result = notify(config, store, now=now)
    step = StepResult("notify", result.summary(), result=result, notes=list(result.warnings))
    step.attention.extend(f"メールを送れませんでした: {notice.error}" for notice in result.failed)
    step.exit_code = result.exit_code  # a refused address: the 担当課 master needs fixing
    return step
