"""The layer rules (STYLE.md) as a test: which module may import what, and the pinned public API."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kouminrenkei_sheets

PACKAGE = Path(kouminrenkei_sheets.__file__).parent

# The commands' modules. A job never imports another job: what two jobs share lives in the domain
# layer (schema, values, workflow, departments, findings, messages) or in store/. Only the modules
# that orchestrate jobs (run, demo, cli, the package's public API) import them.
JOBS = frozenset(
    {"validate", "sync", "refer", "intake", "agreements", "notify", "publish", "reports", "init", "run", "demo"}
)
ORCHESTRATORS = {"run": {"intake", "sync", "validate", "notify"}, "demo": JOBS - {"demo", "run"}}
# Third-party libraries that belong to one layer only.
ONLY_IN = {
    "click": lambda module: module == "cli",
    "openpyxl": lambda module: module.startswith("store."),
    "gspread": lambda module: module.startswith("store."),
    "python_calamine": lambda module: module.startswith("store."),
    "google": lambda module: module.startswith("store."),
    "pandas": lambda module: module == "frames",  # the analysts' DataFrames; jobs work on plain rows
}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"] = path
    return found


def imports_of(module: str, path: Path) -> set[str]:
    """Every module ``module`` imports, at the top or inside a function: package modules as dotted
    names relative to the package ("store.base"), others by their top-level name ("openpyxl")."""
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    if module == "__init__":
        package = []
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                if name.startswith("kouminrenkei_sheets."):
                    out.add(name.removeprefix("kouminrenkei_sheets."))
                else:
                    out.add(name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                name = node.module or ""
                if name.startswith("kouminrenkei_sheets"):
                    base = name.removeprefix("kouminrenkei_sheets").lstrip(".")
                    out.update(base or a.name for a in node.names)
                else:
                    out.add(name.split(".")[0])
                continue
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            target = [*base, *(node.module.split(".") if node.module else [])]
            if node.module:
                out.add(".".join(target))
            else:  # from . import workflow
                out.update(".".join([*target, a.name]) for a in node.names)
    return out


MODULES = modules()
IMPORTS = {m: imports_of(m, p) for m, p in MODULES.items()}


def test_the_import_scanner_sees_relative_absolute_and_late_imports() -> None:
    """The rules below are only as good as this reading of the source."""
    assert {"store.base", "values", "workflow"} <= IMPORTS["validate"]
    assert "store.base" in IMPORTS["store.xlsx"] or "store" in IMPORTS["store.xlsx"]
    assert "docxtpl" in IMPORTS["agreements"]  # imported inside a function
    assert "click" in IMPORTS["cli"]


@pytest.mark.parametrize("library", sorted(ONLY_IN))
def test_a_library_is_imported_only_by_its_layer(library: str) -> None:
    offenders = sorted(m for m, names in IMPORTS.items() if library in names and not ONLY_IN[library](m))
    assert offenders == [], f"{library} imported outside its layer by {offenders}"


def test_jobs_do_not_import_each_other() -> None:
    offenders = {}
    for module, names in IMPORTS.items():
        if module in ("cli", "__init__", "__main__"):
            continue
        jobs = {n for n in names if n in JOBS and n != module}
        allowed = ORCHESTRATORS.get(module, set())
        if jobs - allowed:
            offenders[module] = sorted(jobs - allowed)
    assert offenders == {}


def test_the_domain_and_the_store_never_import_a_job() -> None:
    lower = [m for m in MODULES if m not in JOBS and m not in ("cli", "__init__", "__main__")]
    offenders = {m: sorted(n for n in IMPORTS[m] if n in JOBS) for m in lower}
    assert {m: n for m, n in offenders.items() if n} == {}


def test_the_store_does_not_import_the_domain_above_it() -> None:
    """store/ may use schema, values, errors, files and clock (nothing above them); it never reaches
    into jobs, the CLI or the department master, and only its factory reads the configuration."""
    allowed = {"schema", "values", "errors", "files", "clock"}  # the vocabulary and the foundations
    offenders = {}
    for module, names in IMPORTS.items():
        if not module.startswith("store"):
            continue
        ours = {n for n in names if n in MODULES and not n.startswith("store")}
        extra = ours - allowed - ({"config"} if module in ("store.factory", "store.sources") else set())
        if extra:
            offenders[module] = sorted(extra)
    assert offenders == KNOWN_STORE_EXCEPTIONS


# Nothing in store/ outside the factory (and sources, which opens a backend) reads the configuration.
KNOWN_STORE_EXCEPTIONS: dict[str, list[str]] = {}


def test_the_public_api_is_pinned() -> None:
    assert kouminrenkei_sheets.__all__ == [
        "BusyError",
        "Config",
        "ConfigError",
        "DataError",
        "Finding",
        "KouminrenkeiError",
        "Report",
        "ServiceError",
        "Severity",
        "Store",
        "StoreError",
        "UsageError",
        "__version__",
        "agreements",
        "demo",
        "init",
        "intake",
        "load_config",
        "notify",
        "open_store",
        "publish",
        "refer",
        "reports",
        "run",
        "sync",
        "validate",
    ]
    for name in kouminrenkei_sheets.__all__:
        assert getattr(kouminrenkei_sheets, name) is not None


COMMAND_FUNCTIONS = {
    "agreements": "agreement", "demo": "build_demo", "init": "init_desk", "intake": "intake",
    "notify": "notify", "publish": "publish", "refer": "refer", "reports": "report", "run": "run",
    "sync": "sync", "validate": "validate",
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(COMMAND_FUNCTIONS))
def test_each_command_module_holds_its_command_function(module: str) -> None:
    function = getattr(getattr(kouminrenkei_sheets, module), COMMAND_FUNCTIONS[module])
    assert callable(function) and function.__module__ == f"kouminrenkei_sheets.{module}"
    assert function.__doc__, f"{module}.{function.__name__} has no docstring"


def test_no_two_public_classes_share_a_name() -> None:
    """Two classes of one name in two modules (two Report, two Notice) read as one thing and are not."""
    seen: dict[str, list[str]] = {}
    for module, path in MODULES.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                seen.setdefault(node.name, []).append(module)
    assert {n: m for n, m in seen.items() if len(m) > 1} == KNOWN_SHARED_CLASS_NAMES


KNOWN_SHARED_CLASS_NAMES: dict[str, list[str]] = {}
