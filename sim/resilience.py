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
    on = c.cb_on[c.dst]
    if not on.any():
        return []
    b = state.breaker
    old = b.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(tries > 0, failures / tries, 0.0)
    thr = c.cb_threshold[c.dst]
    # scale the window's volume to the breaker's window
    volume = tries * np.minimum(c.cb_window[c.dst] / max(span, 1e-9), 1.0)
    trip = on & (b == CLOSED) & (volume >= c.cb_min_requests[c.dst]) & (ratio >= thr)
    reopen = on & (b == HALF_OPEN) & (tries > 0) & (ratio >= thr)
    close = on & (b == HALF_OPEN) & (tries > 0) & (ratio < thr)
    probe = on & (b == OPEN) & (now >= state.breaker_until)
    b[trip | reopen] = OPEN
    state.breaker_until[trip | reopen] = now + c.cb_open_for[c.dst][trip | reopen]
    b[close] = CLOSED
    b[probe] = HALF_OPEN
    changed = np.flatnonzero(b != old)
    return [(int(e), int(old[e]), int(b[e])) for e in changed]
