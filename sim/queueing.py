"""Queueing formulas for the flow engine, vectorised over services.

- Erlang C (probability that an arrival waits in M/M/c) from the Erlang B
  recursion, tabulated once per distinct concurrency on a fine utilisation grid
  and read back with one ``np.interp`` for all services.
- Allen–Cunneen: the M/M/c waiting time scaled by (ca² + cs²) / 2 for general
  service times (exact for M/G/1, i.e. Pollaczek–Khinchine).
- Finite queue: the probability of a full queue from the geometric tail of the
  M/M/c waiting states; it tends to the fluid loss 1 - 1/rho above saturation.
- Latency percentiles and tail probabilities from a gamma distribution fitted
  by moments (Wilson–Hilferty); it is exact in shape for exponential sojourns.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["ErlangC", "erlang_c_exact", "wait_time", "block_probability", "gamma_quantile", "gamma_sf"]

_GRID = 4096


def erlang_c_exact(c: int, a: float) -> float:
    """Erlang C for ``c`` servers and offered load ``a`` Erlangs (a / c < 1)."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    if rho >= 1:
        return 1.0
    return b / (1 - rho + rho * b)


class ErlangC:
    """Erlang C lookup for a fixed set of concurrency values, vectorised."""

    def __init__(self, concurrency: np.ndarray) -> None:
        values, group = np.unique(concurrency.astype(np.int64), return_inverse=True)
        rho = np.linspace(0.0, 1.0, _GRID + 1)
        tables = []
        for c in values:
            a = rho * c
            b = np.ones_like(a)
            for k in range(1, int(c) + 1):
                b = a * b / (k + a * b)
            with np.errstate(divide="ignore", invalid="ignore"):
                t = b / (1 - rho + rho * b)
            t[-1] = 1.0
            tables.append(np.nan_to_num(t, nan=1.0))
        self._x = (np.arange(len(values))[:, None] * 2.0 + rho[None, :]).ravel()
        self._y = np.concatenate(tables)
        self._offset = group.astype(float) * 2.0

    def __call__(self, rho: np.ndarray, index: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Erlang C at per-replica utilisation ``rho`` (clipped to [0, 1]) for the services ``index``."""
        off = self._offset[index]
        if rho.ndim == 2:
            off = off[:, None]
        return np.interp(np.clip(rho, 0.0, 1.0) + off, self._x, self._y)


def wait_time(erlang: np.ndarray, rho: np.ndarray, service: np.ndarray, c: np.ndarray,
              scv: np.ndarray, queue_cap: np.ndarray) -> np.ndarray:
    """Mean queueing delay (Allen–Cunneen), capped at draining a full queue (``queue_cap`` seconds)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        w = erlang * service / (c * (1.0 - rho)) * (1.0 + scv) * 0.5
    return np.where(rho < 1.0, np.minimum(w, queue_cap), queue_cap)


def block_probability(erlang: np.ndarray, rho: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Share of arrivals that find the queue of ``k`` waiting places full.

    Only services with a tail worth computing (rho**k above 1e-300) are evaluated.
    """
    out = np.zeros(np.shape(rho))
    hot = np.flatnonzero((rho > 0.0) & (np.log(np.maximum(rho, 1e-300)) * k > -690.0))
    if hot.size:
        r, kk = rho[hot], k[hot]
        near = np.abs(r - 1.0) < 1e-6
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            rk = np.exp(kk * np.log(r))
            tail = np.where(near, 1.0 / (kk + 1.0), (1.0 - r) * rk / (1.0 - rk * r))
            tail = np.where(np.isfinite(tail), tail, 1.0 - 1.0 / r)  # rho**k overflowed: fluid loss
        out[hot] = np.clip(erlang[hot] * tail, 0.0, 1.0)
    return out


def _shape(mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    k = np.divide(mean * mean, var, out=np.full(np.shape(mean), 1e6), where=var > 0)
    return np.clip(k, 0.05, 1e6)


def gamma_quantile(mean: np.ndarray, var: np.ndarray, p: float) -> np.ndarray:
    """The ``p`` quantile of a gamma distribution with this mean and variance (Wilson–Hilferty)."""
    k = _shape(mean, var)
    h = 1.0 / (9.0 * k)
    z = float(ndtri(p))
    return mean * np.maximum(1.0 - h + z * np.sqrt(h), 0.0) ** 3


def gamma_sf(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """P(X > x) for a gamma distribution with this mean and variance (Wilson–Hilferty)."""
    h = 1.0 / (9.0 * _shape(mean, var))
    ratio = np.divide(x, mean, out=np.full(np.shape(mean), 1e12), where=mean > 0)
    z = (np.cbrt(ratio) - (1.0 - h)) / np.sqrt(h)
    return ndtr(-z)
