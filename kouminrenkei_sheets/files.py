"""Writing a file so that readers see the old one or the new one, never half, and nobody loses access.

Every file the tool writes (register and department workbooks, 協定書, publication files, reports,
its own state and lock files) goes through :func:`atomic_write`: the bytes go to a uniquely named
temporary file in the same folder, are flushed to disk, then renamed over the target. A file that
is replaced keeps its permission bits and, where the system lets us, its group (a register set to
``664`` for the desk's group on a shared folder stays so); a new file gets what the umask allows,
as any program the staff use would give it (``mkstemp`` alone would make every file owner-only).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

Writer = Callable[[BinaryIO], None]


def current_umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux), else by setting it back."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def mode_for(target: Path) -> tuple[int, int | None]:
    """The permission bits (and group) the new content of ``target`` should have.

    An existing file keeps its own; a new one gets ``0o666`` less the umask, like ``open()`` gives.
    """
    try:
        st = target.stat()
    except FileNotFoundError:
        return 0o666 & ~current_umask(), None
    return stat.S_IMODE(st.st_mode), st.st_gid


def atomic_write(
    target: str | os.PathLike[str],
    content: bytes | Writer,
    *,
    replace: bool = True,
    unchanged: Callable[[], bool] | None = None,
) -> bool:
    """Write ``content`` (bytes, or a function that writes into a binary file) to ``target`` atomically.

    ``replace=False`` never replaces an existing file (FileExistsError instead). ``unchanged`` is
    asked just before the rename; when it answers False (someone saved the file meanwhile) the
    target is left alone and False is returned. OSError from the file system reaches the caller,
    which knows what to tell a person.
    """
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode, group = mode_for(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(content, bytes | bytearray | memoryview):
                f.write(content)
            else:
                content(f)
            f.flush()
            _keep_access(f.fileno(), mode, group)
            os.fsync(f.fileno())
        if unchanged is not None and not unchanged():
            return False
        if replace:
            os.replace(tmp, path)
        else:
            _place_new(tmp, path)
        _sync_folder(path.parent)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _keep_access(fd: int, mode: int, group: int | None) -> None:
    if group is not None and group != os.fstat(fd).st_gid:
        with contextlib.suppress(OSError):  # only a member of the group (or root) may give it
            os.fchown(fd, -1, group)
    with contextlib.suppress(OSError):  # some network shares do not keep Unix modes at all
        os.fchmod(fd, mode)


def _place_new(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)  # atomic and refuses to replace: FileExistsError
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system (some network shares)
        if path.exists():
            raise FileExistsError(str(path)) from None
        os.replace(tmp, path)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable where the system allows opening a folder."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_file(target: str | os.PathLike[str], data: bytes) -> Path:
    """:func:`atomic_write` for callers that only need the path written."""
    atomic_write(target, data)
    return Path(target)
