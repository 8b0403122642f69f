"""The exceptions the tool raises when it cannot do its job (never for a person's data mistake).

A mistake in a sheet is a :class:`~kouminrenkei_sheets.findings.Finding`, not an exception.
These are for the tool itself failing; ``cli.py`` turns each into one Japanese line and an exit code::

    KouminrenkeiError            exit 1   base class, catch this to catch everything below
    ├── DataError                exit 1   a value in a sheet stops this command (validate shows it)
    ├── UsageError               exit 2   a bad argument: unknown proposal, unknown department, bad date
    ├── ConfigError              exit 2   kouminrenkei.toml missing, unreadable, or a setting is wrong
    ├── StoreError               exit 2   a workbook/spreadsheet cannot be opened, read or written
    │   └── WorkbookBusyError    exit 2   a workbook is open in Excel (owner file ``~$name.xlsx``)
    ├── BusyError                exit 3   another sync holds the lock
    └── ServiceError             exit 4   the spreadsheet service kept failing after retries
"""

from __future__ import annotations


class KouminrenkeiError(Exception):
    """Base of every error the tool raises on purpose; its message is Japanese and complete."""

    exit_code = 1


class DataError(KouminrenkeiError):
    """A value a person typed in a sheet stops a command; fixing the sheet lets it run."""

    exit_code = 1


class UsageError(KouminrenkeiError):
    """A command was given an argument that cannot be used."""

    exit_code = 2


class ConfigError(KouminrenkeiError):
    """The configuration file is missing, unreadable or has a wrong setting."""

    exit_code = 2


class StoreError(KouminrenkeiError):
    """A workbook or spreadsheet could not be opened, read or written."""

    exit_code = 2


class WorkbookBusyError(StoreError):
    """A workbook is open in Excel, so writing it now would be undone by the person's next save."""

    exit_code = 2

    def __init__(self, message: str, *, path: str = "", owner: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.owner = owner


class BusyError(KouminrenkeiError):
    """Another run holds the sync lock."""

    exit_code = 3


class ServiceError(KouminrenkeiError):
    """The spreadsheet service kept failing after bounded retries."""

    exit_code = 4
