"""The TTL sweeper: a daemon thread that applies a time-to-live in the background.

`RustSQLiteCheckpointer(path, ttl={...})` starts one; `close()` stops it. Each sweep
is `saver.sweep_expired(ttl)`, which works in short ordinary transactions (one per
expired thread), so writers in this process or others are never blocked for long. Each
transaction checks the thread's age again before deleting, so a thread written to
while the sweep runs is left whole.
A failed sweep is logged and retried at the next interval; it never kills the thread.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from fast_langgraph_pure.protocol import CleanupCounts

if TYPE_CHECKING:
    from fast_langgraph.saver import TTLConfig

logger = logging.getLogger("fast_langgraph.ttl")

TTL_STRATEGIES: Final = ("delete", "keep_latest")
TTL_KEYS: Final = ("strategy", "default_ttl", "sweep_interval_minutes")
# LangGraph's platform documents hourly sweeps in its examples.
DEFAULT_SWEEP_INTERVAL_MINUTES: Final = 60.0
# How long stop() waits for a sweep in progress before giving up on it.
STOP_TIMEOUT_SECONDS: Final = 10.0


class _Sweepable(Protocol):
    def sweep_expired(self, ttl: TTLConfig) -> CleanupCounts: ...


def _positive_minutes(ttl: Mapping[str, Any], key: str) -> float:
    value = ttl[key]
    # bool is an int subclass: {"default_ttl": True} is a mistake, not one minute.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"ttl[{key!r}] must be a number of minutes, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"ttl[{key!r}] must be a positive number of minutes, got {value!r}")
    return float(value)


def validate_ttl(ttl: Any) -> TTLConfig:
    """Check a TTL dict and return it complete (strategy and interval filled in).

    Raises ValueError naming the offending key, so a typo fails at construction
    rather than silently in a background thread hours later.
    """
    if not isinstance(ttl, Mapping):
        raise ValueError(
            "ttl must be a dict such as {'strategy': 'delete', 'default_ttl': 43200, "
            f"'sweep_interval_minutes': 60}}; got {ttl!r}"
        )
    unknown = sorted(str(key) for key in ttl if key not in TTL_KEYS)
    if unknown:
        raise ValueError(f"unknown ttl key(s) {unknown}; expected some of {list(TTL_KEYS)}")
    if "default_ttl" not in ttl:
        raise ValueError("ttl['default_ttl'] (minutes a thread may stay idle) is required")
    strategy = ttl.get("strategy", "delete")
    if strategy not in TTL_STRATEGIES:
        raise ValueError(f"ttl['strategy'] must be one of {TTL_STRATEGIES}, got {strategy!r}")
    interval = (
        _positive_minutes(ttl, "sweep_interval_minutes")
        if "sweep_interval_minutes" in ttl
        else DEFAULT_SWEEP_INTERVAL_MINUTES
    )
    return {
        "strategy": strategy,
        "default_ttl": _positive_minutes(ttl, "default_ttl"),
        "sweep_interval_minutes": interval,
    }


class TTLSweeper:
    """Calls `saver.sweep_expired(ttl)` now and then every sweep interval until stopped."""

    def __init__(self, saver: _Sweepable, ttl: Any) -> None:
        self.ttl: TTLConfig = validate_ttl(ttl)
        self._saver = saver
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # Observability (and tests): sweeps finished, sweeps that raised.
        self.sweeps = 0
        self.failures = 0

    @property
    def interval_seconds(self) -> float:
        return self.ttl["sweep_interval_minutes"] * 60.0

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("this TTL sweeper was already started")
        self._thread = threading.Thread(
            target=self._run, name="fast-langgraph-ttl-sweeper", daemon=True
        )
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Ask the thread to stop and wait for it (a sweep in progress finishes its
        current transaction first). Idempotent; safe to call from the sweep itself."""
        self._stopping.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        thread.join(timeout)
        if thread.is_alive():
            logger.warning("TTL sweeper did not stop within %.1f s; leaving it behind", timeout)

    def sweep_once(self) -> CleanupCounts | None:
        """One sweep; returns what it deleted, or None when it failed (logged)."""
        try:
            counts = self._saver.sweep_expired(self.ttl)
        except Exception:
            self.failures += 1
            if self._stopping.is_set():
                # The saver is closing under us; nothing is wrong.
                logger.debug("TTL sweep interrupted by close()", exc_info=True)
            else:
                logger.exception(
                    "TTL sweep failed; retrying in %s minutes",
                    self.ttl["sweep_interval_minutes"],
                )
            return None
        self.sweeps += 1
        if counts["checkpoints"] or counts["writes"]:
            logger.info(
                "TTL sweep deleted %d checkpoints and %d writes",
                counts["checkpoints"],
                counts["writes"],
            )
        return counts

    def _run(self) -> None:
        # Sweep at once (a process restarted more often than the interval would
        # otherwise never sweep), then each interval; wait() returns True on stop.
        while not self._stopping.is_set():
            self.sweep_once()
            if self._stopping.wait(self.interval_seconds):
                break
