"""The ``flow`` engine: a vectorised fluid/queueing model of the whole fleet.

A batch of ticks with the same control state is solved at once:

1. Offered load, top-down: each served request at a caller makes ``calls``
   calls per dependency, multiplied by the expected tries under retries, less
   what an open breaker sheds and what a blackhole or partition never
   delivers. ``depth`` sparse products propagate it through the DAG.
2. Each service is ``k`` replicas of an M/G/c queue (``c`` = concurrency,
   random load balancing): Erlang C, Allen–Cunneen waiting time and a
   finite-queue overload probability (``sim.queueing``).
3. Outcomes, bottom-up: per dependency a try fails when the callee errs,
   answers after the call's timeout, or is unreachable; retries repeat it;
   a hard synchronous call that still fails fails the caller, a soft one
   only costs latency. Latency moments compose along call trees
   (sequential calls add, parallel calls take the slowest branch) and
   percentiles come from a gamma fit.

The retry and overload factors of step 1 come from the previous batch (one
batch of lag), which keeps every step a fixed number of numpy operations:
there is no Python loop over services or edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sim.compiled import MODE_ASYNC, MODE_PAR, MODE_SEQ, Compiled
from sim.plane import Totals, Window
from sim.queueing import (ErlangC, block_probability, delayed_quantile, delayed_sf, gamma_quantile, gamma_sf,
                           split_delay, wait_moments)
from sim.state import CAUSES, HALF_OPEN, OPEN, PlaneState

__all__ = ["FlowEngine", "HALF_OPEN_PROBE"]

HALF_OPEN_PROBE = 0.1  # share of calls a half-open breaker lets through
_MIXTURE_CELLS = 900_000  # numbers kept for run percentiles before neighbouring solutions merge
_K = len(CAUSES)
_UNAVAIL, _OVER, _INJ, _TIMEOUT, _DEP, _CB = range(_K)


def _pattern(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """A CSR matrix with one entry per edge and the permutation from edge order to ``.data`` order."""
    m = rows.size
    mat = sp.csr_matrix((np.arange(1, m + 1, dtype=float), (rows, cols)), shape=(n, n))
    mat.sort_indices()
    perm = mat.data.astype(np.int64) - 1
    return mat, perm


def propagate(A: sp.csr_matrix, served: np.ndarray, external: np.ndarray, depth: int) -> np.ndarray:
    """Offered load: external arrivals plus the calls that served requests make, ``depth``
    products down the DAG. ``external`` is [n] or [n, T] (one column per tick)."""
    sv = served if external.ndim == 1 else served[:, None]
    lam = external
    for _ in range(depth):
        lam = external + A @ (sv * lam)
    return lam


def all_tries_fail(q: np.ndarray, attempts: np.ndarray) -> np.ndarray:
    """q ** (attempts + 1) per edge: the chance that a call fails every try (most have no retries)."""
    out = q.copy()
    r = attempts > 0
    if r.any():
        out[r] = q[r] ** (attempts[r] + 1)
    return out


def expected_tries(q: np.ndarray, q_pow: np.ndarray, attempts: np.ndarray) -> np.ndarray:
    """Expected tries per call with retries: (1 - q^(R+1)) / (1 - q)."""
    return np.divide(1 - q_pow, 1 - q, out=attempts + 1.0, where=q < 1 - 1e-12)


class FlowWindow(Window):
    """A flow-engine window: rates, outcomes and latency hold for the whole window, so
    per-tick series are derived from the external arrivals only when asked for."""

    def __init__(self, engine: "FlowEngine", t0: float, ext_rate: np.ndarray, A: sp.csr_matrix,
                 served_lag: np.ndarray, lam: np.ndarray, frac: np.ndarray, lat: np.ndarray,
                 util_rate: np.ndarray, under: np.ndarray, replicas: np.ndarray,
                 edge_tries: np.ndarray, edge_failures: np.ndarray) -> None:
        self._engine = engine
        self.t0 = t0
        self.ticks = int(ext_rate.shape[0])
        self._ext = ext_rate          # [T, n] requests/s
        self._A = A
        self._served = served_lag
        self._lam = lam               # [n] mean arrival rate over the window
        self._frac = frac             # [n, K]
        self._lat = lat               # [n, 4]
        self._util_rate = util_rate   # [n] utilisation per (request/s)
        self._under = under           # [P]
        self.replicas = replicas
        self.edge_tries = edge_tries
        self.edge_failures = edge_failures
        self._arr: np.ndarray | None = None
        self._totals: Totals | None = None

    def arrivals(self) -> np.ndarray:
        if self._arr is None:
            self._arr = propagate(self._A, self._served, self._ext.T, self._engine.depth).T * self._engine.tick
        return self._arr

    def errors(self) -> np.ndarray:
        return self.arrivals()[:, :, None] * self._frac[None, :, :]

    def latency(self) -> np.ndarray:
        return np.broadcast_to(self._lat, (self.ticks,) + self._lat.shape)

    def utilization(self) -> np.ndarray:
        return np.minimum(self.arrivals() / self._engine.tick * self._util_rate[None, :], 1.0)

    def under(self) -> np.ndarray:
        return np.broadcast_to(self._under, (self.ticks, self._under.size))

    def at(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-tick arrivals at a few services from one row of the load response each."""
        Y = self._engine.response_rows(self._A, self._served, idx)
        arr = self._ext @ Y * self._engine.tick                          # [T, s]
        return arr, arr * self._frac[idx].sum(axis=1)[None, :]

    def totals(self) -> Totals:
        if self._totals is None:  # the recorder and the controllers all read them
            arr = self._lam * (self.ticks * self._engine.tick)
            succ = arr * (1 - self._frac.sum(axis=1))
            util = np.minimum(self._lam * self._util_rate, 1.0)
            self._totals = Totals(arr, arr[:, None] * self._frac, succ[:, None] * self._lat, util * self.ticks, util)
        return self._totals


@dataclass
class _Solution:
    """One network solution, valid while the control state (``version``) holds."""

    A: sp.csr_matrix
    served_lag: np.ndarray
    served: np.ndarray
    load: np.ndarray
    lam: np.ndarray
    rho: np.ndarray
    frac: np.ndarray
    lat: np.ndarray
    util_rate: np.ndarray
    under: np.ndarray
    replicas: np.ndarray
    q_try: np.ndarray
    edge_factor: np.ndarray
    version: int
    converged: bool
    weight: np.ndarray | None = None   # successful requests served under this solution so far


class _Level:
    """Edges whose callers sit at one height above the leaves, with their grouping by caller."""

    def __init__(self, edges: np.ndarray, src: np.ndarray, mode: np.ndarray) -> None:
        self.edges = edges                                         # edge ids, grouped by caller
        self.callers, local = np.unique(src[edges], return_inverse=True)
        self.local = local                                         # caller position per edge
        par = np.flatnonzero(mode[edges] == MODE_PAR)
        self.par = par                                             # positions of parallel edges
        self.par_callers, self.par_start = np.unique(local[par], return_index=True)


class FlowEngine:
    """The vectorised data plane; see the module docstring for the model."""

    name = "flow"

    def __init__(self, compiled: Compiled, tick: float, probes: list[tuple[int, float]] | None = None,
                 tolerance: float = 0.01) -> None:
        c = self.c = compiled
        self.tick = tick
        self.tolerance = tolerance
        self.last: _Solution | None = None
        self._mixture: list[tuple] = []  # (mean, var, weight, delayed share | None, delay | None)
        self._mixture_max = max(16, _MIXTURE_CELLS // (3 * max(c.n, 1)))
        self.solves = 0
        self._rows_A: sp.csr_matrix | None = None
        self._rows_key: bytes | None = None
        self._rows = np.zeros((0, 0))
        n = c.n
        self.erlang = ErlangC(c.concurrency)
        self.down, self._down_perm = _pattern(c.dst, c.src, n)      # callee <- caller (load)
        self.up, self._up_perm = _pattern(c.src, c.dst, n)          # caller <- callee (load response)
        self.sync = (c.mode != MODE_ASYNC).astype(float)
        self.seq = (c.mode == MODE_SEQ).astype(float)
        self.hard_sync = (c.hard & (c.mode != MODE_ASYNC)).astype(float)
        frac = c.calls - np.floor(c.calls)
        self.calls_var = frac * (1 - frac)
        self.inc = sp.csr_matrix((np.ones(c.m), (c.src, np.arange(c.m))), shape=(n, c.m))
        # heights above the leaves: outcomes are final level by level, bottom-up
        height = np.zeros(n, np.int64)
        order = np.argsort(c.src, kind="stable")
        starts = np.searchsorted(c.src[order], np.arange(n + 1))
        for i in range(n - 1, -1, -1):
            e = order[starts[i]:starts[i + 1]]
            if e.size:
                height[i] = 1 + height[c.dst[e]].max()
        self.height = height
        self.levels = [_Level(np.flatnonzero(height[c.src] == h), c.src, c.mode)
                       for h in range(1, int(height.max(initial=0)) + 1)]
        self.probe_idx = np.array([p[0] for p in probes or []], np.int64)
        self.probe_thr = np.array([p[1] for p in probes or []], float)
        # lagged factors
        self.q_try = np.zeros(c.m)
        self.served = np.ones(n)
        self.depth = max(c.depth, 1)

    def _down(self, weights: np.ndarray) -> sp.csr_matrix:
        """The load matrix (callee x caller) with a fresh copy of the edge weights."""
        return sp.csr_matrix((weights[self._down_perm], self.down.indices, self.down.indptr),
                             shape=self.down.shape)

    def response_rows(self, A: sp.csr_matrix, served: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """[n, s]: how much one external request/s at each service adds to the load at ``idx``
        (rows of (I - A diag(served))^-1, by propagating upwards). Cached per load matrix."""
        key = idx.tobytes()
        if self._rows_A is A and self._rows_key == key:
            return self._rows
        n = self.c.n
        E = np.zeros((n, idx.size))
        E[idx, np.arange(idx.size)] = 1.0
        Y = E
        At = self.load_matrix_T(A)
        sl = served[:, None]
        for _ in range(self.depth):
            Y = E + sl * (At @ Y)
        self._rows_A, self._rows_key, self._rows = A, key, Y
        return Y

    def load_matrix_T(self, A: sp.csr_matrix) -> sp.csr_matrix:
        """The transpose of a load matrix built by ``_down``, without a sparse transpose."""
        weights = np.empty(self.c.m)
        weights[self._down_perm] = A.data
        return sp.csr_matrix((weights[self._up_perm], self.up.indices, self.up.indptr), shape=self.up.shape)

    # -- the step -------------------------------------------------------------
    def advance(self, t0: float, external: np.ndarray, state: PlaneState,
                expected: np.ndarray | None = None) -> Window:
        """Solve (or reuse) the network for the window's expected load, then count the
        sampled arrivals through it."""
        T = external.shape[0]
        ext_rate = external / self.tick                                # [T, n] requests/s
        ext_mean = ext_rate.mean(axis=0)
        load = ext_mean if expected is None else expected
        sol = self._reusable(load, state)
        if sol is None:
            sol = self._solve(load, state)
            self.solves += 1
        lam = propagate(sol.A, sol.served_lag, ext_mean, self.depth)
        sol.weight += lam * (1 - sol.frac.sum(axis=1)) * (T * self.tick)
        edge_tries = (sol.served * lam)[self.c.src] * sol.edge_factor * (T * self.tick)
        return FlowWindow(self, t0, ext_rate, sol.A, sol.served_lag, lam, sol.frac, sol.lat, sol.util_rate,
                          sol.under, sol.replicas, edge_tries, edge_tries * sol.q_try)

    # -- run latency: a mixture over the solutions the run went through -------------------
    def _compact(self) -> None:
        """Merge neighbouring solutions pairwise (moment matching) to bound memory on long runs."""
        merged = []
        live, done = self._mixture[-1], self._mixture[:-1]  # the last one still gathers weight
        for a, b in zip(done[0::2], done[1::2]):
            (ma, va, wa_), (mb, vb, wb) = self._overall(a), self._overall(b)
            w = wa_ + wb
            wa = np.divide(wa_, w, out=np.full_like(w, 0.5), where=w > 0)
            m = wa * ma + (1 - wa) * mb
            v = wa * (va + ma * ma) + (1 - wa) * (vb + mb * mb) - m * m
            merged.append((m, np.maximum(v, 0), w, None, None))
        if len(done) % 2:
            merged.append(done[-1])
        self._mixture = merged + [live]

    @staticmethod
    def _overall(entry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """An entry's overall mean and variance (its delayed share folded back in)."""
        m, v, w, p, d = entry
        if p is None:
            return m, v, w
        return m + p * d, v + p * (1 - p) * d * d, w

    def _components(self):
        """Mixture components [B, n]: each entry, and a delayed copy where a share was delayed."""
        Ms, Vs, Ws = [], [], []
        for m, v, w, p, d in self._mixture:
            if p is None:
                Ms.append(m), Vs.append(v), Ws.append(w)
            else:
                Ms += [m, m + d]
                Vs += [v, v]
                Ws += [w * (1 - p), w * p]
        return np.array(Ms, float), np.array(Vs, float), np.array(Ws, float)

    def run_latency(self) -> np.ndarray:
        """[n, 4] over the whole run: the mean, and p50/p90/p99 of the mixture of every
        solution's latency distribution weighted by the requests it served (bisection)."""
        n = self.c.n
        out = np.zeros((n, 4))
        if not self._mixture:
            return out
        M, V, W = self._components()                                 # [B, n]
        tot = W.sum(axis=0)
        has = tot > 1e-6
        Wn = np.divide(W, tot, out=np.zeros_like(W), where=has[None, :])
        out[:, 0] = np.where(has, (Wn * M).sum(axis=0), 0.0)
        for j, q in ((1, 0.5), (2, 0.9), (3, 0.99)):
            comp = gamma_quantile(M, V, q)
            lo = np.where(Wn > 0, comp, np.inf).min(axis=0)
            hi = np.where(Wn > 0, comp, 0.0).max(axis=0)
            lo, hi = np.where(has, lo, 0.0), np.where(has, hi, 0.0)
            for _ in range(24):  # the mixture's quantile lies between its components' quantiles
                mid = 0.5 * (lo + hi)
                sf = (Wn * gamma_sf(mid[None, :], M, V)).sum(axis=0)
                above = sf > 1 - q
                lo = np.where(above, mid, lo)
                hi = np.where(above, hi, mid)
            out[:, j] = 0.5 * (lo + hi)
        return out

    def _reusable(self, load: np.ndarray, state: PlaneState) -> "_Solution | None":
        """The last solution, if the state is unchanged, it had converged, and the load moved
        so little that no service's queueing factor 1/(1 - rho) changes by more than ``tolerance``."""
        sol = self.last
        if sol is None or self.tolerance <= 0 or sol.version != state.version or not sol.converged:
            return None
        total = float(sol.load.sum())
        ratio = float(load.sum()) / total if total > 0 else 0.0
        if total <= 0 or not np.allclose(load, ratio * sol.load, rtol=1e-9, atol=1e-12):
            return None  # the mix over entry points changed: solve again
        # the load is linear in the external rate, so every service's load moved by `ratio`
        rho = sol.rho
        drift = abs(ratio - 1.0) * rho / np.maximum(1.0 - np.minimum(rho, 0.999), 1e-3)
        return sol if float(drift.max(initial=0.0)) < self.tolerance else None

    def _solve(self, ext_mean: np.ndarray, state: PlaneState) -> "_Solution":
        c = self.c

        up = state.up_replicas()
        k = up.sum(axis=1).astype(float)
        unavailable = k <= 0
        k_safe = np.maximum(k, 1.0)
        s = c.mean_service * state.service_mult
        cc = c.concurrency

        # edge delivery factors (lagged failure probabilities)
        q = self.q_try
        tries = expected_tries(q, all_tries_fail(q, c.attempts), c.attempts)
        b = state.breaker
        shed = np.where(b == OPEN, 1.0, np.where(b == HALF_OPEN, 1 - HALF_OPEN_PROBE, 0.0))
        reach = 1.0 - state.blackhole
        if state.partition.any():
            reach = reach * (1 - state.cross_partition())
        deliver = c.calls * tries * (1 - shed) * reach                  # tries received per served request

        # 1. offered load, top-down
        A = self._down(deliver)
        served_lag = self.served
        lam = propagate(A, served_lag, ext_mean, self.depth)

        # 2. local queue
        rho = lam / k_safe * s / cc
        ec = self.erlang(rho)
        p_block = block_probability(ec, rho, c.queue_limit)
        inj = state.injected_error
        f_unavail = unavailable.astype(float)
        f_inj = (1 - f_unavail) * inj
        f_over = (1 - f_unavail) * (1 - inj) * p_block
        served = 1 - f_unavail - f_inj - f_over
        wait, wait_var = wait_moments(ec, rho, s, cc, c.scv, c.queue_limit)
        dly, dfr = state.extra_delay, state.delay_fraction
        own_m = wait + s + dfr * dly
        own_v = wait_var + s * s * c.scv + dfr * (1 - dfr) * dly * dly

        # 3. outcomes, bottom-up, one height at a time (callees are final before their callers)
        err = 1 - served
        lat_m, lat_v = own_m.copy(), own_v.copy()
        # a latency fault on a share of requests makes latency bimodal: carry the delayed share
        # and its delay up the call tree, next to the moments
        track = bool((dfr * dly > 0).any())
        dp, dD = dfr.copy(), dly.copy()
        m = c.m
        q_try = np.zeros(m)
        Q_call = np.zeros(m)
        t_share = np.zeros(m)  # share of failed tries that failed by timing out
        for lv in self.levels:
            e = lv.edges
            dst = c.dst[e]
            to = c.edge_timeout[e]
            lm, lvv = lat_m[dst], lat_v[dst]
            p_slow = gamma_sf(to, lm, lvv)
            fe = err[dst]
            re = reach[e]
            slow = (1 - re) + re * (1 - fe) * p_slow
            qt = slow + re * fe
            q_try[e] = qt
            t_share[e] = np.divide(slow, qt, out=np.zeros_like(qt), where=qt > 0)
            r = c.attempts[e]
            has_r = r > 0
            qp = all_tries_fail(qt, r)
            tr = expected_tries(qt, qp, r)
            sh = shed[e]
            Q_call[e] = sh + (1 - sh) * qp
            t_try = re * ((1 - (1 - fe) * p_slow) * np.minimum(lm, to) + (1 - fe) * p_slow * to) + (1 - re) * to
            sy = self.sync[e] * (1 - sh)
            e_all = tr * t_try + (tr - 1) * c.backoff[e]
            # a caller that succeeds saw its hard calls succeed: for them count only the failed
            # tries before the success (a truncated geometric), each a timeout or a fast error.
            # Where calls mostly fail, the time failing calls take dominates instead.
            rr = r.astype(float)
            qs = np.minimum(qt, 1 - 1e-6)
            qR = np.where(has_r, qs ** rr, 1.0)
            ks = np.where(has_r, qs * (1 - (rr + 1) * qR + rr * qR * qs) / (1 - qs) / np.maximum(1 - qR * qs, 1e-12),
                          0.0)
            ks = np.clip(ks, 0.0, rr)
            t_fail = np.divide(slow * to + re * fe * np.minimum(lm, to), qt, out=np.zeros_like(qt), where=qt > 0)
            e_ok = ks * (t_fail + c.backoff[e]) + np.minimum(lm, to)
            Qc = Q_call[e]
            wf = Qc ** 3  # weight of the failing calls: negligible until calls mostly fail
            e_call = sy * np.where(c.hard[e], (1 - wf) * e_ok + wf * e_all, e_all)
            v_call = sy * (1 + ks) * np.minimum(lvv, to * to)
            calls = c.calls[e]
            seq = self.seq[e]
            ncl = lv.callers.size
            seq_m = np.bincount(lv.local, weights=seq * calls * e_call, minlength=ncl)
            seq_v = np.bincount(lv.local, weights=seq * (calls * v_call + self.calls_var[e] * e_call * e_call),
                                minlength=ncl)
            if lv.par.size:
                pv = e_call[lv.par]
                mx = np.maximum.reduceat(pv, lv.par_start)
                seq_m[lv.par_callers] += mx
                # variance of the slowest parallel branch: approximated by the largest branch variance
                seq_v[lv.par_callers] += np.maximum.reduceat(v_call[lv.par], lv.par_start)
            log_ok = np.bincount(lv.local, weights=self.hard_sync[e] * calls * np.log1p(-np.minimum(Q_call[e], 1 - 1e-15)),
                                 minlength=ncl)
            cl = lv.callers
            if track:
                a = (seq + (self.c.mode[e] == 1)) * calls * sy
                pc = np.minimum(dp[dst], 1 - 1e-9)
                Dc = np.minimum(dD[dst], to)
                log_keep = np.bincount(lv.local, weights=a * np.log1p(-pc), minlength=ncl)
                num = np.bincount(lv.local, weights=a * pc * Dc, minlength=ncl)
                den = np.bincount(lv.local, weights=a * pc, minlength=ncl)
                po, Do = dfr[cl], dly[cl]
                dp[cl] = 1 - (1 - po) * np.exp(log_keep)
                dD[cl] = np.divide(po * Do + num, po + den, out=np.zeros(ncl), where=(po + den) > 0)
            lat_m[cl] = own_m[cl] + seq_m
            lat_v[cl] = own_v[cl] + seq_v
            err[cl] = 1 - served[cl] * np.exp(log_ok)
        dep_fail = 1 - (1 - err) / np.maximum(served, 1e-300)
        dep_fail = np.where(served > 0, np.clip(dep_fail, 0, 1), 0.0)

        # dependency failures split by cause, weighted by each hard call's share of the failure
        w = self.hard_sync * c.calls * -np.log1p(-np.minimum(Q_call, 1 - 1e-15))
        share_retry = np.divide((1 - shed) * all_tries_fail(q_try, c.attempts), Q_call, out=np.zeros(m), where=Q_call > 0)
        U = self.inc
        tot = U @ w
        cause_to = U @ (w * share_retry * t_share)
        cause_cb = U @ (w * (1 - share_retry))
        f_to = np.divide(cause_to, tot, out=np.zeros(c.n), where=tot > 0)
        f_cb = np.divide(cause_cb, tot, out=np.zeros(c.n), where=tot > 0)
        dep_total = served * dep_fail
        frac = np.empty((c.n, _K))
        frac[:, _UNAVAIL] = f_unavail
        frac[:, _INJ] = f_inj
        frac[:, _OVER] = f_over
        frac[:, _TIMEOUT] = dep_total * f_to
        frac[:, _CB] = dep_total * f_cb
        frac[:, _DEP] = dep_total * np.clip(1 - f_to - f_cb, 0, 1)
        # the external client gives up on an entry point after the entry's timeout
        ok = served * (1 - dep_fail)
        ent = c.entry
        frac[ent, _TIMEOUT] += ok[ent] * delayed_sf(c.timeout[ent], lat_m[ent], lat_v[ent], dp[ent], dD[ent])

        converged = (float(np.abs(q_try - self.q_try).max(initial=0.0)) < 1e-6
                     and float(np.abs(served - self.served).max(initial=0.0)) < 1e-6)
        self.q_try = q_try
        self.served = served

        if track:
            lat = np.stack([lat_m] + [delayed_quantile(lat_m, lat_v, dp, dD, q) for q in (0.5, 0.9, 0.99)], axis=1)
        else:
            lat = np.stack([lat_m, gamma_quantile(lat_m, lat_v, 0.5), gamma_quantile(lat_m, lat_v, 0.9),
                            gamma_quantile(lat_m, lat_v, 0.99)], axis=1)
        under = np.empty(self.probe_idx.size)
        if self.probe_idx.size:
            pi = self.probe_idx
            under[:] = 1 - delayed_sf(self.probe_thr, lat_m[pi], lat_v[pi], dp[pi], dD[pi])
        util_rate = (s / cc) * (1 - p_block) * (~unavailable) / k_safe
        sol = _Solution(weight=np.zeros(c.n),
                        A=A, served_lag=served_lag, served=served, load=ext_mean, lam=lam, rho=rho, frac=frac, lat=lat,
                        util_rate=util_rate, under=under, replicas=k, q_try=q_try,
                        edge_factor=c.calls * tries * (1 - shed), version=state.version, converged=converged)
        self.last = sol
        # the run's latency mixture keeps (mean, variance, weight) per solution, in float32
        if track:
            bm, bv, bi = split_delay(lat_m, lat_v, dp, dD)
            self._mixture.append((bm.astype(np.float32), bv.astype(np.float32), sol.weight,
                                  np.where(bi, dp, 0.0).astype(np.float32), np.where(bi, dD, 0.0).astype(np.float32)))
        else:
            self._mixture.append((lat_m.astype(np.float32), lat_v.astype(np.float32), sol.weight, None, None))
        if len(self._mixture) > self._mixture_max:
            self._compact()
        return sol
