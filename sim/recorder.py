"""The recorder: per-service time series in numpy arrays, and the run's summary accumulators.

Series are kept at the tick when services x ticks fits the cell budget, else
at the smallest whole number of ticks per sample that fits (``interval``).
Counts are summed over a sample, utilisation and replicas averaged, latency
percentiles averaged weighted by successful requests.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sim.plane import Window
from sim.state import CAUSES

__all__ = ["Recorder", "CELL_BUDGET"]

CELL_BUDGET = 1_500_000  # samples x services per series


class Recorder:
    def __init__(self, names: list[str], ticks: int, tick: float, cell_budget: int = CELL_BUDGET,
                 batch: int = 1) -> None:
        n = len(names)
        self.names = names
        self.tick = tick
        self.every = max(1, math.ceil(n * ticks / cell_budget))
        if self.every > batch:  # whole batches per sample, so windows rarely straddle samples
            self.every = math.ceil(self.every / batch) * batch
        self.samples = math.ceil(ticks / self.every)
        S, K = self.samples, len(CAUSES)
        f = np.float32
        self.arrivals = np.zeros((S, n), f)
        self.errors = np.zeros((S, n, K), f)
        self._lat = np.zeros((S, n, 4), f)
        self._lat_w = np.zeros((S, n), f)
        self._util = np.zeros((S, n), f)
        self._reps = np.zeros((S, n), f)
        self._ticks = np.zeros(S, np.int64)
        # whole-run accumulators (float64, full resolution)
        self.total_arrivals = np.zeros(n)
        self.total_errors = np.zeros((n, K))
        self._tot_lat = np.zeros((n, 4))
        self._tot_lat_w = np.zeros(n)
        self.util_sum = np.zeros(n)
        self.util_max = np.zeros(n)
        self.reps_min = np.full(n, np.inf)
        self.reps_max = np.zeros(n)
        self.reps_sum = np.zeros(n)
        self.ticks_seen = 0

    @property
    def interval(self) -> float:
        return self.every * self.tick

    def record(self, tick_index: int, w: Window) -> None:
        T = w.ticks
        tot = w.totals()
        self.total_arrivals += tot.arrivals
        self.total_errors += tot.errors
        self._tot_lat += tot.latency_weighted
        succ_sum = tot.successes
        self._tot_lat_w += succ_sum
        self.util_sum += tot.utilization_sum
        self.util_max = np.maximum(self.util_max, tot.utilization_max)
        self.reps_min = np.minimum(self.reps_min, w.replicas)
        self.reps_max = np.maximum(self.reps_max, w.replicas)
        self.reps_sum += w.replicas * T
        self.ticks_seen += T
        first, last = tick_index // self.every, (tick_index + T - 1) // self.every
        if first == last:  # the whole window falls in one sample: aggregates suffice
            b = first
            self.arrivals[b] += tot.arrivals
            self.errors[b] += tot.errors
            self._lat[b] += tot.latency_weighted
            self._lat_w[b] += succ_sum
            self._util[b] += tot.utilization_sum
            self._reps[b] += w.replicas * T
            self._ticks[b] += T
            return
        arr, err, lat, util = w.arrivals(), w.errors(), w.latency(), w.utilization()
        succ = arr - err.sum(axis=2)
        if self.every == 1:  # one sample per tick: store the window as it is
            sl = slice(tick_index, tick_index + T)
            self.arrivals[sl] = arr
            self.errors[sl] = err
            self._lat[sl] = lat * succ[:, :, None]
            self._lat_w[sl] = succ
            self._util[sl] = util
            self._reps[sl] = w.replicas
            self._ticks[sl] = 1
            return
        bins = (tick_index + np.arange(T)) // self.every
        for b in range(first, last + 1):
            sel = bins == b
            cnt = int(sel.sum())
            self.arrivals[b] += arr[sel].sum(0)
            self.errors[b] += err[sel].sum(0)
            ss = succ[sel]
            self._lat[b] += np.einsum("tn,tnk->nk", ss, lat[sel])
            self._lat_w[b] += ss.sum(0)
            self._util[b] += util[sel].sum(0)
            self._reps[b] += w.replicas * cnt
            self._ticks[b] += cnt

    # -- views ----------------------------------------------------------------
    def latency(self) -> np.ndarray:
        """[samples, n, 4] mean, p50, p90, p99 in seconds (0 where nothing succeeded)."""
        w = np.maximum(self._lat_w, 1e-12)[:, :, None]
        return np.where(self._lat_w[:, :, None] > 1e-6, self._lat / w, 0.0).astype(np.float32)

    def utilization(self) -> np.ndarray:
        return (self._util / np.maximum(self._ticks, 1)[:, None]).astype(np.float32)

    def replicas(self) -> np.ndarray:
        return (self._reps / np.maximum(self._ticks, 1)[:, None]).astype(np.float32)

    def successes(self) -> np.ndarray:
        return self.arrivals - self.errors.sum(axis=2)

    def total_latency(self) -> np.ndarray:
        """[n, 4] run latency per service: success-weighted mean of the window percentiles."""
        w = np.maximum(self._tot_lat_w, 1e-12)[:, None]
        return np.where(self._tot_lat_w[:, None] > 1e-6, self._tot_lat / w, 0.0)

    def save(self, path: Path) -> None:
        """``series.npz``: see README "Run folder"."""
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez_compressed(
            tmp, services=np.array(self.names), causes=np.array(CAUSES),
            interval=np.array(self.interval), time=np.arange(self.samples) * self.interval,
            arrivals=self.arrivals, successes=self.successes(), errors=self.errors,
            latency=self.latency(), utilization=self.utilization(), replicas=self.replicas())
        tmp.replace(path)
