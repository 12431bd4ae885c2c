"""What a forked child does with the engines it inherits.

`os.fork()` copies the process with every lock and SQLite connection in it, but
only the thread that forked. Left alone, an engine in the child would wait
forever for a lock that another thread held at the fork, and would write
through the parent's connections, which SQLite forbids ("How To Corrupt"
2.6). Three SQLite facts shape what happens instead (each checked by hand on
SQLite 3.40):

- SQLite keeps, per process and per file, which locks the process holds, shared
  by all its connections to that file. While a copied connection stays open in
  the child, the child's own new connections to that file believe they hold
  locks that only the parent holds: their writes fail with "database is locked"
  for good, or the parent, closing its last connection, deletes the WAL under
  them and their commits are lost. So the copies must be closed in the child.
- Closing a copy that was inside a write transaction rolls it back, and the
  rollback rewrites the WAL index in shared memory, under the parent's still
  open transaction: the parent then reads "database disk image is malformed".
  Closing a copy that a thread was inside of waits forever for that thread's
  SQLite mutex. So only idle copies may be closed.
- Idle copies are closed safely: their locks are not the child's, and a close
  that would checkpoint needs an exclusive lock the parent's connections deny.

Hence: before a fork, the forking thread waits (at most `FORK_WAIT_SECONDS` in
all) until no engine call is in flight, holding each engine's writer lock and
letting no pooled read start; in the child, every engine whose connections were
all idle has them closed at once, and gets new locks and a connection of its
own on first use. An engine still busy when the wait ran out keeps its copies
open and untouched for good, and neither it nor a new engine may use that file
in the child: its calls raise `sqlite3.ProgrammingError` saying why.

This module is interpreted on purpose: the registry holds weak references, and
mypyc-compiled classes (the engine) cannot be weakly referenced.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import weakref
from typing import Final

# Longest a fork waits for engine calls in flight (a write may legitimately wait
# this long for another process's lock: SQLite's busy timeout).
FORK_WAIT_SECONDS: float = 5.0

# Copied connections that must never be closed in this process: closing one
# could corrupt the parent's transaction or hang (see above). Held here so
# that dropping an engine's last reference does not close them.
_abandoned: list[sqlite3.Connection] = []
# Real paths of files this process must not open: busy copies of their
# connections were inherited, so SQLite's lock bookkeeping for them is wrong.
_unusable: dict[str, str] = {}

_states: weakref.WeakSet[ForkState] = weakref.WeakSet()
_registry_lock = threading.Lock()
# The states the fork in progress quiesced: (state, writer lock taken, idle).
_quiesced: list[tuple[ForkState, bool, bool]] = []

MEMORY_MESSAGE: Final = (
    "this saver's in-memory database belongs to the process that opened it, and this "
    "process is a fork of that one: a database in memory cannot be carried across "
    "fork(). Open a new saver in this process (or use a database file)"
)
CONNECTION_MESSAGE: Final = (
    "this saver works through a sqlite3.Connection opened before this process was "
    "forked, and SQLite connections must not be used across fork(). Open a new "
    "connection and a new saver in this process"
)


def _busy_message(path: str) -> str:
    return (
        f"this process was forked while another thread was using a saver on {path!r} "
        f"(a call in flight, or its lock held, for more than {FORK_WAIT_SECONDS:g} s): "
        "the SQLite connections copied mid-call can neither be used nor closed safely "
        "here, and they make every new connection to that file in this process unsafe "
        "too. Fork while the saver is idle, or use multiprocessing's 'spawn' or "
        "'forkserver' start method"
    )


class ForkState:
    """One engine as a fork sees it: its writer lock, its pooled reads in
    flight, and the connections it opened. The engine holds its state; the
    registry holds states weakly, and a state never refers to its engine."""

    __slots__ = (
        "__weakref__",
        "connections",
        "forked",
        "forking",
        "lock",
        "path",
        "pool",
        "readers",
        "reset_lock",
    )

    def __init__(self, lock: threading.Lock, pool_lock: threading.Lock) -> None:
        self.lock = lock
        self.pool = threading.Condition(pool_lock)
        # Pooled reads in flight; changed with the pool lock held.
        self.readers = 0
        # True while a fork waits for the reads in flight.
        self.forking = False
        # Connections the engine opened and has not closed (never a caller's).
        self.connections: set[sqlite3.Connection] = set()
        # True in a forked child until the engine has set itself up again.
        self.forked = False
        self.reset_lock = threading.Lock()
        self.path = ""

    def register(self, path: str) -> None:
        """Start being seen by forks; `path` is the file ("" in memory)."""
        self.path = os.path.realpath(path) if path else ""
        with _registry_lock:
            _states.add(self)

    def unregister(self) -> None:
        with _registry_lock:
            _states.discard(self)

    def opened(self, conn: sqlite3.Connection) -> None:
        self.connections.add(conn)

    def closed(self, conn: sqlite3.Connection) -> None:
        self.connections.discard(conn)

    def start_read(self) -> None:
        """A pooled read begins; call with the pool lock held. Waits while a
        fork is waiting for reads to finish."""
        while self.forking:
            self.pool.wait()
        self.readers += 1

    def end_read(self) -> None:
        """A pooled read ended (its reader given back or closed); call with the
        pool lock held."""
        self.readers -= 1
        if self.forking and self.readers == 0:
            self.pool.notify_all()

    # -- the fork ----------------------------------------------------------------

    def _quiesce(self, deadline: float) -> tuple[bool, bool]:
        """Take the writer lock, then the pool lock, and wait for the pooled
        reads to end, until `deadline`. Returns (writer lock taken, idle):
        idle when no call was in flight. The pool lock stays held (when taken)
        until the fork is over, so no read starts meanwhile."""
        writer = self.lock.acquire(timeout=max(deadline - time.monotonic(), 0.0))
        if not self.pool.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            self.forking = False
            return writer, False
        self.forking = True
        readers_done = self.pool.wait_for(
            lambda: self.readers == 0, timeout=max(deadline - time.monotonic(), 0.0)
        )
        return writer, writer and readers_done

    def _resume_in_parent(self, writer: bool) -> None:
        if self.forking:  # the pool lock was taken
            self.forking = False
            self.pool.notify_all()
            self.pool.release()
        if writer:
            self.lock.release()

    def _after_fork_in_child(self, idle: bool) -> None:
        # The locks copied here stay as they were: the engine replaces them.
        self.forked = True
        self.forking = False
        self.reset_lock = threading.Lock()
        if idle:
            for conn in self.connections:
                # An idle copy closes; if it does not, nothing is left to do.
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
        else:
            _abandoned.extend(self.connections)
            if self.path:
                _unusable[self.path] = _busy_message(self.path)
        self.connections = set()


def refusal(state: ForkState) -> str:
    """Why an engine whose state is `state` cannot be used in this child, or ""."""
    return _unusable.get(state.path, "") if state.path else ""


def check_usable(path: str) -> None:
    """Refuse to open a file whose inherited connections were busy at a fork."""
    if _unusable and path:
        reason = _unusable.get(os.path.realpath(path))
        if reason is not None:
            raise sqlite3.ProgrammingError(reason)


def abandon(conn: sqlite3.Connection) -> None:
    """Keep a copied connection open, unused, for the life of this process."""
    _abandoned.append(conn)


def _before_fork() -> None:
    _registry_lock.acquire()
    deadline = time.monotonic() + FORK_WAIT_SECONDS
    for state in list(_states):
        if not state.forked:  # a state already dealt with in an earlier fork is inert
            writer, idle = state._quiesce(deadline)
            _quiesced.append((state, writer, idle))


def _after_fork_in_parent() -> None:
    for state, writer, _idle in _quiesced:
        state._resume_in_parent(writer)
    _quiesced.clear()
    _registry_lock.release()


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for state, _writer, idle in _quiesced:
        state._after_fork_in_child(idle)
    _quiesced.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
