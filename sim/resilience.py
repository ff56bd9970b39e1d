"""Circuit breakers on calls into a service, evaluated per dependency (client side).

closed -> open when the share of failed tries over the breaker's rolling
``window`` reaches the threshold with at least ``min_requests`` tries in it;
open -> half-open after ``open_for``; half-open lets a probe share through and
closes when the probes succeed, or opens again. Vectorised over the
dependencies that have a breaker.
"""

from __future__ import annotations

import numpy as np

from sim.compiled import Compiled
from sim.state import CLOSED, HALF_OPEN, OPEN, PlaneState

__all__ = ["Breakers"]


class Breakers:
    """The breaker states' rolling windows: per-batch tries and failures of breaker edges."""

    def __init__(self, compiled: Compiled) -> None:
        self.c = compiled
        self.edges = compiled.breaker_edges
        self._ends: list[float] = []
        self._tries: list[np.ndarray] = []
        self._fails: list[np.ndarray] = []
        dst = compiled.dst[self.edges]
        self.window = compiled.cb_window[dst]
        self.threshold = compiled.cb_threshold[dst]
        self.min_requests = compiled.cb_min_requests[dst]
        self.open_for = compiled.cb_open_for[dst]
        self._longest = float(self.window.max(initial=0.0))

    def update(self, state: PlaneState, now: float, tries: np.ndarray,
               failures: np.ndarray) -> list[tuple[int, int, int]]:
        """Add one window's per-edge tries and failures (ending ``now``) and advance the states.

        Returns the transitions as (edge, old state, new state)."""
        e = self.edges
        if e.size == 0:
            return []
        self._ends.append(now)
        self._tries.append(tries[e])
        self._fails.append(failures[e])
        while self._ends and self._ends[0] <= now - self._longest:
            self._ends.pop(0)
            self._tries.pop(0)
            self._fails.pop(0)
        b = state.breaker[e]
        if not b.any() and not any(f.any() for f in self._fails):
            return []  # all closed and nothing failed within any window: nothing can change
        inside = (now - np.array(self._ends))[:, None] < self.window[None, :]   # [batches, edges]
        t = (np.array(self._tries) * inside).sum(axis=0)
        f = (np.array(self._fails) * inside).sum(axis=0)
        last_t, last_f = self._tries[-1], self._fails[-1]
        ratio = np.divide(f, t, out=np.zeros(e.size), where=t > 0)
        last_ratio = np.divide(last_f, last_t, out=np.zeros(e.size), where=last_t > 0)
        old = b.copy()
        until = state.breaker_until[e]
        trip = (b == CLOSED) & (t >= self.min_requests) & (ratio >= self.threshold)
        # half-open judges the probes of the last window only
        reopen = (b == HALF_OPEN) & (last_t > 0) & (last_ratio >= self.threshold)
        close = (b == HALF_OPEN) & (last_t > 0) & (last_ratio < self.threshold)
        probe = (b == OPEN) & (now >= until)
        b[trip | reopen] = OPEN
        until[trip | reopen] = now + self.open_for[trip | reopen]
        b[close] = CLOSED
        b[probe] = HALF_OPEN
        state.breaker[e] = b
        state.breaker_until[e] = until
        changed = np.flatnonzero(b != old)
        return [(int(e[i]), int(old[i]), int(b[i])) for i in changed]
