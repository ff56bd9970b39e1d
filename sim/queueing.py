"""Queueing formulas for the flow engine, vectorised over services.

- Erlang C (probability that an arrival waits in M/M/c) from the Erlang B
  recursion, tabulated once per distinct concurrency on a fine utilisation grid
  and read back with one ``np.interp`` for all services.
- Finite queue (M/M/c/c+K): the number waiting ahead of an arrival is a
  geometric distribution with ratio rho truncated at K places, so the wait of a
  waiting request is an Erlang of (ahead + 1) phases at rate c/s: exponential
  with the M/M/c mean below saturation, uniform at rho = 1, and concentrated near
  a full queue above it. The probability of finding the queue full tends to the
  fluid loss 1 - 1/rho.
- Allen–Cunneen: waiting times scaled by (ca² + cs²) / 2 for general service
  times (exact for M/G/1, i.e. Pollaczek–Khinchine).
- Latency percentiles and tail probabilities from a gamma distribution fitted
  by moments (Wilson–Hilferty); it is exact in shape for exponential sojourns.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["ErlangC", "erlang_c_exact", "wait_moments", "block_probability", "gamma_quantile",
           "gamma_sf", "delayed_sf", "delayed_quantile", "split_delay"]

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


def _truncated_geometric(rho: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of j in 0..k with P(j) proportional to rho**j (stable for any rho > 0)."""
    r = np.maximum(rho, 1e-12)
    above = r > 1.0
    t = np.where(above, 1.0 / r, r)                    # reflect: above saturation count places left
    near = np.abs(1.0 - t) < 1e-6
    ts = np.where(near, 0.5, t)
    tk = np.exp((k + 1.0) * np.log(ts))                # t ** (k + 1), underflows harmlessly to 0
    mean = ts / (1 - ts) - (k + 1) * tk / (1 - tk)
    var = ts / (1 - ts) ** 2 - (k + 1) ** 2 * tk / (1 - tk) ** 2
    mean = np.where(near, k / 2.0, mean)
    var = np.where(near, k * (k + 2) / 12.0, var)
    mean = np.where(above, k - mean, mean)
    return mean, np.maximum(var, 0.0)


def wait_moments(erlang: np.ndarray, rho: np.ndarray, service: np.ndarray, c: np.ndarray,
                 scv: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the queueing delay with ``k`` waiting places per replica."""
    ahead, ahead_var = _truncated_geometric(rho, k)
    phase = service / c * (1.0 + scv) * 0.5            # one service completion among c servers (A-C)
    m1 = (ahead + 1.0) * phase                          # wait of a request that waits
    v1 = (ahead + 1.0 + ahead_var) * phase * phase
    p = np.where(rho >= 1.0, 1.0, erlang)
    mean = p * m1
    return mean, np.maximum(p * (v1 + m1 * m1) - mean * mean, 0.0)


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


# -- latency with a delayed share: (1 - p) x Gamma(base) + p x (Gamma(base) + D) ------------------

def split_delay(mean: np.ndarray, var: np.ndarray, p: np.ndarray, delay: np.ndarray):
    """The base distribution's moments once a share ``p`` delayed by ``delay`` is taken out of the
    overall moments; ``bimodal`` marks where the two-component form applies."""
    base_m = mean - p * delay
    base_v = var - p * (1 - p) * delay * delay
    bimodal = (p > 1e-6) & (p < 1 - 1e-6) & (delay > 0) & (base_m > 0) & (base_v > 0)
    return np.where(bimodal, base_m, mean), np.where(bimodal, base_v, var), bimodal


def delayed_sf(x, mean, var, p, delay) -> np.ndarray:
    """P(X > x) for the delayed-share mixture (a plain gamma where no share is delayed)."""
    bm, bv, bi = split_delay(mean, var, p, delay)
    plain = gamma_sf(x, mean, var)
    mixed = (1 - p) * gamma_sf(x, bm, bv) + p * gamma_sf(x - delay, bm, bv)
    return np.where(bi, mixed, plain)


def delayed_quantile(mean, var, p, delay, q: float, iterations: int = 30) -> np.ndarray:
    """The ``q`` quantile of the delayed-share mixture, by bisection where it is bimodal."""
    out = gamma_quantile(mean, var, q)
    bm, bv, bi = split_delay(mean, var, p, delay)
    idx = np.flatnonzero(bi)
    if idx.size:
        m, v, pp, d = bm[idx], bv[idx], p[idx], delay[idx]
        lo = np.zeros(idx.size)
        hi = gamma_quantile(m, v, q) + d
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            sf = (1 - pp) * gamma_sf(mid, m, v) + pp * gamma_sf(mid - d, m, v)
            above = sf > 1 - q
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
        out[idx] = 0.5 * (lo + hi)
    return out
