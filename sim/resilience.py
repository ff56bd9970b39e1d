"""Circuit breakers on calls into a service, evaluated per dependency (client side).

closed -> open when the share of failed tries in the last window reaches the
threshold with at least ``min_requests`` tries; open -> half-open after
``open_for``; half-open lets a probe share through and closes when the probes
succeed, or opens again. Vectorised over all dependencies.
"""

from __future__ import annotations

import numpy as np

from sim.compiled import Compiled
from sim.state import CLOSED, HALF_OPEN, OPEN, PlaneState

__all__ = ["update_breakers"]


def update_breakers(state: PlaneState, compiled: Compiled, now: float, tries: np.ndarray,
                    failures: np.ndarray, span: float) -> list[tuple[int, int, int]]:
    """Advance breaker states from one window's per-edge tries and failures over ``span`` seconds.

    Returns the transitions as (edge, old state, new state).
    """
    c = compiled
    e = c.breaker_edges
    if e.size == 0:
        return []
    b = state.breaker[e]
    if not b.any() and not failures[e].any():
        return []  # all closed and nothing failing: nothing can change
    dst = c.dst[e]
    old = b.copy()
    t = tries[e]
    ratio = np.divide(failures[e], t, out=np.zeros(e.size), where=t > 0)
    thr = c.cb_threshold[dst]
    # scale the window's volume to the breaker's window
    volume = t * np.minimum(c.cb_window[dst] / max(span, 1e-9), 1.0)
    trip = (b == CLOSED) & (volume >= c.cb_min_requests[dst]) & (ratio >= thr)
    reopen = (b == HALF_OPEN) & (t > 0) & (ratio >= thr)
    close = (b == HALF_OPEN) & (t > 0) & (ratio < thr)
    probe = (b == OPEN) & (now >= state.breaker_until[e])
    b[trip | reopen] = OPEN
    until = state.breaker_until[e]
    until[trip | reopen] = now + c.cb_open_for[dst][trip | reopen]
    b[close] = CLOSED
    b[probe] = HALF_OPEN
    state.breaker[e] = b
    state.breaker_until[e] = until
    changed = np.flatnonzero(b != old)
    return [(int(e[i]), int(old[i]), int(b[i])) for i in changed]
