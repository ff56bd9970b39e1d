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

import numpy as np
import scipy.sparse as sp

from sim.compiled import MODE_ASYNC, MODE_PAR, MODE_SEQ, Compiled
from sim.plane import Window
from sim.queueing import ErlangC, block_probability, gamma_quantile, gamma_sf, wait_time
from sim.state import CAUSES, HALF_OPEN, OPEN, PlaneState

__all__ = ["FlowEngine", "HALF_OPEN_PROBE"]

HALF_OPEN_PROBE = 0.1  # share of calls a half-open breaker lets through
_K = len(CAUSES)
_UNAVAIL, _OVER, _INJ, _TIMEOUT, _DEP, _CB = range(_K)


def _pattern(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """A CSR matrix with one entry per edge and the permutation from edge order to ``.data`` order."""
    m = rows.size
    mat = sp.csr_matrix((np.arange(1, m + 1, dtype=float), (rows, cols)), shape=(n, n))
    mat.sort_indices()
    perm = mat.data.astype(np.int64) - 1
    return mat, perm


class FlowEngine:
    """The vectorised data plane; see the module docstring for the model."""

    name = "flow"

    def __init__(self, compiled: Compiled, tick: float, probes: list[tuple[int, float]] | None = None) -> None:
        c = self.c = compiled
        self.tick = tick
        n = c.n
        self.erlang = ErlangC(c.concurrency)
        self.down, self._down_perm = _pattern(c.dst, c.src, n)      # callee <- caller (load)
        seq = c.mode == MODE_SEQ
        self.sync = c.mode != MODE_ASYNC
        # caller x edge incidence: sums per-edge values into their caller (outcomes)
        self.inc = sp.csr_matrix((np.ones(c.m), (c.src, np.arange(c.m))), shape=(n, c.m))
        self.par_edges = np.flatnonzero(c.mode == MODE_PAR)          # sorted by caller
        self.par_src, self.par_start = np.unique(c.src[self.par_edges], return_index=True)
        self.seq_mask = seq
        frac = c.calls - np.floor(c.calls)
        self.calls_var = frac * (1 - frac)
        self.probe_idx = np.array([p[0] for p in probes or []], np.int64)
        self.probe_thr = np.array([p[1] for p in probes or []], float)
        # lagged factors
        self.q_try = np.zeros(c.m)
        self.served = np.ones(n)
        self.depth = max(c.depth, 1)

    # -- helpers ------------------------------------------------------------
    def _down(self, weights: np.ndarray) -> sp.csr_matrix:
        self.down.data = weights[self._down_perm]
        return self.down

    def _par_max(self, values: np.ndarray, extra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per caller, the largest ``values`` over its parallel calls, and ``extra`` of that call."""
        out_v = np.zeros(self.c.n)
        out_e = np.zeros(self.c.n)
        if self.par_edges.size:
            v = values[self.par_edges]
            mx = np.maximum.reduceat(v, self.par_start)
            out_v[self.par_src] = mx
            # variance of the branch with the largest mean (ties: the first)
            owner = np.repeat(np.arange(self.par_src.size), np.diff(np.append(self.par_start, v.size)))
            is_max = v >= mx[owner]
            first = np.full(self.par_src.size, -1)
            idx = np.flatnonzero(is_max)
            first[owner[idx[::-1]]] = idx[::-1]
            out_e[self.par_src] = extra[self.par_edges][first]
        return out_v, out_e

    # -- the step -------------------------------------------------------------
    def advance(self, t0: float, external: np.ndarray, state: PlaneState) -> Window:
        c = self.c
        T = external.shape[0]
        tick = self.tick
        ext_rate = external * state.load_mult[None, :] / tick          # [T, n] requests/s
        ext_mean = ext_rate.mean(axis=0)

        up = state.up_replicas()
        k = up.sum(axis=1).astype(float)
        unavailable = k <= 0
        k_safe = np.maximum(k, 1.0)
        s = c.mean_service * state.service_mult
        cc = c.concurrency

        # edge delivery factors (lagged failure probabilities)
        R = c.attempts
        q = self.q_try
        with np.errstate(divide="ignore", invalid="ignore"):
            tries = np.where(q < 1 - 1e-12, (1 - q ** (R + 1)) / (1 - q), R + 1)
        open_ = state.breaker == OPEN
        half = state.breaker == HALF_OPEN
        shed = np.where(open_, 1.0, np.where(half, 1 - HALF_OPEN_PROBE, 0.0))
        reach = (1 - state.blackhole) * (1 - state.cross_partition())
        deliver = c.calls * tries * (1 - shed) * reach                  # tries received per served request

        # 1. offered load, top-down
        A = self._down(deliver)
        lam = ext_mean.copy()
        served_lag = self.served
        for _ in range(self.depth):
            lam = ext_mean + A @ (served_lag * lam)

        # 2. local queue
        rho = lam / k_safe * s / cc
        ec = self.erlang(rho)
        p_block = block_probability(ec, rho, c.queue_limit)
        inj = state.injected_error
        f_unavail = unavailable.astype(float)
        f_inj = (1 - f_unavail) * inj
        f_over = (1 - f_unavail) * (1 - inj) * p_block
        served = 1 - f_unavail - f_inj - f_over
        rho_c = np.minimum(rho, 1.0 - 1e-9)
        wait = wait_time(ec, rho, s, cc, c.scv, c.queue_limit * s / cc)
        d = s / (cc * np.maximum(1 - rho_c, 1e-9)) * (1 + c.scv) * 0.5
        wait_var = np.minimum(ec * (2 - ec) * d * d, (c.queue_limit * s / cc) ** 2)
        dly, dfr = state.extra_delay, state.delay_fraction
        own_m = wait + s + dfr * dly
        own_v = wait_var + s * s * c.scv + dfr * (1 - dfr) * dly * dly

        # 3. outcomes, bottom-up
        err = 1 - served
        lat_m, lat_v = own_m.copy(), own_v.copy()
        hard_sync = (c.hard & self.sync).astype(float)
        seq = self.seq_mask.astype(float)
        to = c.edge_timeout
        src_d = c.dst
        for _ in range(self.depth):
            p_slow = gamma_sf(to, lat_m[src_d], lat_v[src_d])
            fe = err[src_d]
            q_try = reach * (fe + (1 - fe) * p_slow) + (1 - reach)
            with np.errstate(divide="ignore", invalid="ignore"):
                tries_now = np.where(q_try < 1 - 1e-12, (1 - q_try ** (R + 1)) / (1 - q_try), R + 1)
            Q_call = shed + (1 - shed) * q_try ** (R + 1)
            t_ok = np.minimum(lat_m[src_d], to)
            t_try = reach * ((1 - p_slow * (1 - fe)) * t_ok + (1 - fe) * p_slow * to) + (1 - reach) * to
            e_call = (1 - shed) * (tries_now * t_try + (tries_now - 1) * c.backoff) * self.sync
            v_call = (1 - shed) * tries_now * np.minimum(lat_v[src_d], to * to) * self.sync
            seq_m = self.inc @ (seq * c.calls * e_call)
            seq_v = self.inc @ (seq * (c.calls * v_call + self.calls_var * e_call * e_call))
            par_m, par_v = self._par_max(e_call, v_call)
            lat_m = own_m + seq_m + par_m
            lat_v = own_v + seq_v + par_v
            log_ok = self.inc @ (hard_sync * c.calls * np.log1p(-np.minimum(Q_call, 1 - 1e-15)))
            dep_fail = 1 - np.exp(log_ok)
            err = 1 - served * (1 - dep_fail)

        # dependency failures split by cause, weighted by each hard call's share of the failure
        w = hard_sync * c.calls * -np.log1p(-np.minimum(Q_call, 1 - 1e-15))
        q_fail = np.maximum(q_try, 1e-300)
        share_to = np.where(Q_call > 0, (1 - shed) * q_try ** (R + 1) / np.maximum(Q_call, 1e-300), 0.0)
        timeout_part = ((1 - reach) + reach * (1 - fe) * p_slow) / q_fail
        U = self.inc
        tot = U @ w
        cause_to = U @ (w * share_to * np.clip(timeout_part, 0, 1))
        cause_cb = U @ (w * (1 - share_to))
        with np.errstate(divide="ignore", invalid="ignore"):
            f_to = np.where(tot > 0, cause_to / tot, 0.0)
            f_cb = np.where(tot > 0, cause_cb / tot, 0.0)
        dep_total = served * dep_fail
        frac = np.zeros((c.n, _K))
        frac[:, _UNAVAIL] = f_unavail
        frac[:, _INJ] = f_inj
        frac[:, _OVER] = f_over
        frac[:, _TIMEOUT] = dep_total * f_to
        frac[:, _CB] = dep_total * f_cb
        frac[:, _DEP] = dep_total * np.clip(1 - f_to - f_cb, 0, 1)
        # the external client gives up on an entry point after the entry's timeout
        ok = served * (1 - dep_fail)
        client_to = np.where(c.entry, gamma_sf(c.timeout, lat_m, lat_v), 0.0)
        frac[:, _TIMEOUT] += ok * client_to

        self.q_try = q_try
        self.served = served

        # per tick: linear response of the load to this batch's external arrivals
        lam_T = ext_rate.T.copy()                                       # [n, T]
        for _ in range(self.depth):
            lam_T = ext_rate.T + A @ (served_lag[:, None] * lam_T)
        arrivals = (lam_T.T * tick)                                    # [T, n]
        util = np.minimum(lam_T.T / k_safe * s / cc * (1 - p_block), 1.0) * (~unavailable)
        lat = np.stack([lat_m, gamma_quantile(lat_m, lat_v, 0.5), gamma_quantile(lat_m, lat_v, 0.9),
                        gamma_quantile(lat_m, lat_v, 0.99)], axis=1)
        under = np.empty((T, self.probe_idx.size))
        if self.probe_idx.size:
            pi = self.probe_idx
            under[:] = 1 - gamma_sf(self.probe_thr, lat_m[pi], lat_v[pi])
        calls_per_tick = (served * lam)[c.src] * c.calls * tries * (1 - shed) * T * tick
        return Window(
            t0=t0, arrivals=arrivals, errors=arrivals[:, :, None] * frac[None, :, :],
            latency=np.broadcast_to(lat, (T,) + lat.shape), utilization=util,
            replicas=k, under=under, edge_tries=calls_per_tick, edge_failures=calls_per_tick * q_try)
