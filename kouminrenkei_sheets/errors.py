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

# The exit codes of the CLI contract (DESIGN.md), one per class of what went wrong.
EXIT_OK = 0
EXIT_DATA = 1  # something in a sheet or a file needs a person (findings, problems, refused addresses)
EXIT_CONFIG = 2  # a usage or configuration error
EXIT_BUSY = 3  # another job or a person holds what is needed: the next run does it
EXIT_SERVICE = 4  # a service (Google, the mail server) could not be reached
# When several steps fail, the code of the one a person must act on first: a wrong setting stops
# everything until fixed, a failing service may need a call, busy clears by itself, data waits.
EXIT_PRIORITY = (EXIT_CONFIG, EXIT_SERVICE, EXIT_BUSY, EXIT_DATA)


class KouminrenkeiError(Exception):
    """Base of every error the tool raises on purpose; its message is Japanese, complete and one line
    (a name a person typed with a line break or a control character in it cannot split it)."""

    exit_code = 1

    def __init__(self, *args: object) -> None:
        super().__init__(*(one_line(a) if isinstance(a, str) else a for a in args))


def one_line(text: str) -> str:
    """``text`` on one line: line breaks and tabs become spaces, other control characters their visible
    symbols (NUL → ␀), so a message is one line in a terminal, a log and a scheduler's mail."""
    out = []
    for ch in text.replace("\r\n", " "):
        code = ord(ch)
        if ch in "\r\n\t\v\f\x85\u2028\u2029":
            out.append(" ")
        elif code < 0x20:
            out.append(chr(0x2400 + code))
        elif code == 0x7F:
            out.append("\u2421")
        else:
            out.append(ch)
    return "".join(out)


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
