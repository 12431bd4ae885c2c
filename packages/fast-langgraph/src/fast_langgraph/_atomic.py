"""Writing a whole file or nothing: what `saver.backup` and the CLI's backup use.

`written_atomically(target)` gives a file beside `target` (TARGET.partial) to
write into, renamed over `target` once the block completed and the copy is on
disk, removed when the block fails. So `target` is either absent (or the old
one) or complete, whatever kills the process.

A killed run leaves TARGET.partial behind; the next run reuses it. While a run
writes it, it holds a lock on it (flock, released by the kernel however the
process ends), so a second backup to the same target is refused rather than
mixed in.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator
from typing import Final

if sys.platform != "win32":
    import fcntl

PARTIAL_SUFFIX: Final = ".partial"
# What SQLite may leave beside a file it wrote: a rollback journal or WAL files.
_SIDE_SUFFIXES: Final = ("-journal", "-wal", "-shm")


class TargetBusyError(sqlite3.OperationalError):
    """Another process is writing the same target right now."""


class TargetUnwritableError(sqlite3.OperationalError):
    """The target's folder cannot take the file; `cause` is the system's word."""

    def __init__(self, target: str, cause: str) -> None:
        super().__init__(
            f"cannot write {target}: {cause} (check the folder exists and is writable)"
        )
        self.cause = cause


def remove_files(*paths: str) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def fsync_folder(folder: str) -> None:
    """Make a rename in `folder` durable (POSIX; a no-op where folders cannot be
    opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def written_atomically(target: str) -> Iterator[str]:
    """The path to write into; see the module's docstring."""
    # A symlink keeps pointing where it did: the copy replaces what it points to.
    final = os.path.realpath(target) if os.path.islink(target) else target
    partial = final + PARTIAL_SUFFIX
    try:
        fd = os.open(partial, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise TargetUnwritableError(target, exc.strerror or str(exc)) from None
    try:
        if sys.platform != "win32":
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise TargetBusyError(
                    f"another backup is writing {target} (into {partial}); wait for it to finish"
                ) from None
        # Start empty, whatever a killed run left (SQLite must not roll back its journal).
        os.ftruncate(fd, 0)
        side_files = tuple(partial + suffix for suffix in _SIDE_SUFFIXES)
        remove_files(*side_files)
        try:
            yield partial
            os.fsync(fd)  # the copy on disk before its name is
            os.replace(partial, final)
        except BaseException:
            remove_files(partial, *side_files)
            raise
        fsync_folder(os.path.dirname(os.path.abspath(final)))
    finally:
        os.close(fd)
