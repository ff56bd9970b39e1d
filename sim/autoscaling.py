"""Replica autoscaling: the Kubernetes HorizontalPodAutoscaler's algorithm, and a predictive
autoscaler that adds a forecast floor to it.

:class:`HPAlgorithm` is the HPA controller's arithmetic (``pkg/controller/podautoscaler``),
vectorised over the scaled services:

1. per metric, ``desired = ceil(ready x usage / target)`` where usage is the average over
   ready replicas; no change within ``tolerance`` of the target. Pods without metrics
   (killed, or in a failed zone) count as using the target (100 % for utilization) on a
   scale-down and nothing on a scale-up; pods still starting count as using nothing on a
   scale-up and are left out of a scale-down; a recomputed ratio that flips direction or
   lands within tolerance keeps the current count. The largest proposal over metrics wins.
2. stabilisation: the lowest recommendation within the scale-up window and the highest
   within the scale-down window bound the new count.
3. ``behavior`` rate limits: per policy, the replicas at the start of its period plus
   (minus) ``value`` pods or percent; ``select_policy`` Max takes the policy allowing the
   largest change, Min the smallest, Disabled none; then ``min``/``max``.

:class:`Autoscaler` runs it as a control-plane process every ``sync_period``: metrics are
averaged per serving replica over the data plane's windows reported since the last sync;
pods that became ready since then count as not ready; pods lost to a kill or a failed zone
are the ReplicaSet's to replace, so they leave the count (a Deployment at zero is left alone); new replicas go to the
up zones with the fewest replicas and serve after ``startup``, removals take starting
replicas first, then from the zones with the most.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from scenarios.schema import Autoscaling, ScalingRules
from sim.plane import Window

__all__ = ["HPAlgorithm", "Autoscaler", "make_autoscaler"]

_EPS = 1e-9


@dataclass
class _Event:
    at: float
    change: np.ndarray  # [S] replicas added (scale-up list) or removed (scale-down list)


class HPAlgorithm:
    """The HPA's replica arithmetic for ``S`` services scaled under one spec (no simulation)."""

    def __init__(self, spec: Autoscaling, services: int) -> None:
        self.spec = spec
        self.S = services
        # recommendations within the longer stabilisation window: a ring of rows [slot, service]
        self._rec = np.zeros((0, services))
        self._rec_at = np.zeros(0)
        self._rec_count = 0
        self._ups: deque[_Event] = deque()
        self._downs: deque[_Event] = deque()
        b = spec.behavior
        self._keep = max(b.scale_up.stabilization_window or 0.0, b.scale_down.stabilization_window or 0.0)
        self._longest_period = max([p.period for p in (b.scale_up.policies or []) + (b.scale_down.policies or [])],
                                   default=0.0)

    # -- 1. metrics -> proposal -------------------------------------------------------
    def proposal(self, current: np.ndarray, ready: np.ndarray, unready: np.ndarray, missing: np.ndarray,
                 usage: np.ndarray, target: float, fallback: float) -> np.ndarray:
        """Replicas one metric asks for. ``usage`` is the average per ready replica;
        ``fallback`` what a pod without metrics is taken to use on a scale-down."""
        tol = self.spec.tolerance
        ratio = np.divide(usage, target)
        plain = ~(((unready > 0) & (ratio > 1)) | (missing > 0))
        desired = np.where(np.abs(1 - ratio) <= tol, current, np.ceil(ratio * ready - _EPS))
        # fill in pods without metrics (the HPA's "rebalance")
        down = ratio < 1
        fill_missing = np.where(down, missing * fallback, 0.0)
        counted = ready + missing + np.where(ratio > 1, unready, 0)
        new_ratio = np.divide(usage * ready + fill_missing, target * np.maximum(counted, 1))
        keep = ((np.abs(1 - new_ratio) <= tol) | (down & (new_ratio > 1)) | ((ratio > 1) & (new_ratio < 1)))
        rebalanced = np.ceil(new_ratio * counted - _EPS)
        keep |= ((new_ratio < 1) & (rebalanced > current)) | ((new_ratio > 1) & (rebalanced < current))
        rebalanced = np.where(keep, current, rebalanced)
        out = np.where(plain, desired, rebalanced)
        return np.where(ready > 0, out, current)  # no metrics from any ready pod: no decision

    # -- 2. + 3. stabilise and rate-limit --------------------------------------------------
    def normalize(self, now: float, current: np.ndarray, desired: np.ndarray,
                  floor: np.ndarray | None = None) -> np.ndarray:
        """The replica count to set: stabilised, rate-limited and within min/max. ``floor``
        (the predictive autoscaler's) acts like a raised ``min``."""
        spec, b = self.spec, self.spec.behavior
        up_cut = now - (b.scale_up.stabilization_window or 0.0)
        down_cut = now - (b.scale_down.stabilization_window or 0.0)
        if self._rec_count == 0:  # a new HPA does not scale in before its window has passed
            self._remember(now, current)
        live = self._rec_at[: self._rec_count]
        up_rows = self._rec[: self._rec_count][live > up_cut + _EPS]
        down_rows = self._rec[: self._rec_count][live > down_cut + _EPS]
        up_rec = np.minimum(desired, up_rows.min(0)) if len(up_rows) else desired
        down_rec = np.maximum(desired, down_rows.max(0)) if len(down_rows) else desired
        self._remember(now, desired)
        stable = np.minimum(np.maximum(current, up_rec), down_rec)
        if floor is None and np.array_equal(stable, current) and self._within_bounds(current):
            return current  # the usual sync: nothing to rate-limit

        up_limit = np.maximum(self._limit(now, b.scale_up, current, +1), current)
        down_limit = np.minimum(self._limit(now, b.scale_down, current, -1), current)
        out = np.where(stable > current, np.minimum(stable, np.minimum(up_limit, spec.max)),
                       np.where(stable < current, np.maximum(stable, np.maximum(down_limit, spec.min)), stable))
        # the HPA first brings a count outside [min, max] inside, whatever the metrics say
        lo = np.full(self.S, float(spec.min)) if floor is None else np.clip(np.maximum(floor, spec.min), None, spec.max)
        out = np.where(current < lo, lo, np.where(current > spec.max, spec.max, out))
        if floor is not None:
            out = np.maximum(out, lo)
        return out

    def _within_bounds(self, current: np.ndarray) -> bool:
        return bool(current.min(initial=self.spec.min) >= self.spec.min
                    and current.max(initial=self.spec.max) <= self.spec.max)

    def _remember(self, now: float, recommendation: np.ndarray) -> None:
        keep = self._rec_at[: self._rec_count] > now - self._keep - _EPS
        if not keep.all():  # drop recommendations older than both windows
            n = int(keep.sum())
            self._rec[:n] = self._rec[: self._rec_count][keep]
            self._rec_at[:n] = self._rec_at[: self._rec_count][keep]
            self._rec_count = n
        if self._rec_count == len(self._rec_at):
            grow = max(8, self._rec_count)
            self._rec = np.vstack([self._rec, np.zeros((grow, self.S))])
            self._rec_at = np.concatenate([self._rec_at, np.full(grow, -np.inf)])
        self._rec[self._rec_count] = recommendation
        self._rec_at[self._rec_count] = now
        self._rec_count += 1

    def record(self, now: float, before: np.ndarray, after: np.ndarray) -> None:
        """Remember a scale event for the rate limits."""
        diff = after - before
        if (diff > 0).any():
            self._ups.append(_Event(now, np.maximum(diff, 0)))
        if (diff < 0).any():
            self._downs.append(_Event(now, np.maximum(-diff, 0)))
        for q in (self._ups, self._downs):
            while q and q[0].at <= now - self._longest_period - _EPS:
                q.popleft()

    def _changed(self, now: float, events: deque[_Event], period: float) -> np.ndarray:
        """Replicas changed within the last ``period``."""
        out = np.zeros(self.S)
        for e in events:
            if e.at > now - period + _EPS:
                out += e.change
        return out

    def _limit(self, now: float, rules: ScalingRules, current: np.ndarray, sign: int) -> np.ndarray:
        """The furthest count the policies allow in direction ``sign`` (+1 up, -1 down)."""
        if rules.select_policy == "Disabled":
            return current
        proposals = []
        for p in rules.policies or []:
            # replicas when this policy's period began
            start = current - self._changed(now, self._ups, p.period) + self._changed(now, self._downs, p.period)
            if p.type == "Pods":
                proposals.append(start + sign * p.value)
            elif sign > 0:
                proposals.append(np.ceil(start * (1 + p.value / 100) - _EPS))
            else:
                proposals.append(np.floor(start * (1 - p.value / 100) + _EPS))
        stack = np.stack(proposals)
        # Max: the policy allowing the largest change; Min: the smallest
        largest = rules.select_policy == "Max"
        return stack.max(0) if (sign > 0) == largest else stack.min(0)


class Autoscaler:
    """A control-plane :class:`~sim.simulation.Controller` running the HPA every ``sync_period``."""

    def __init__(self, spec: Autoscaling) -> None:
        self.spec = spec
        self.idx = np.zeros(0, np.int64)
        self.pending = np.zeros((0, 0))          # [S, Z] replicas starting up
        self._cohorts: list[np.ndarray] = []     # pending replicas by start time, oldest first
        self.scale_ups = 0                       # (service, sync) decisions that added replicas
        self.scale_downs = 0
        self._usage = np.zeros(0)
        self._arrivals = np.zeros(0)
        self._ticks = 0
        self.algorithm: HPAlgorithm | None = None
        self._counted: tuple[int, np.ndarray, np.ndarray] = (-1, np.zeros(0), np.zeros(0))

    def start(self, sim) -> None:
        spec, c = self.spec, sim.compiled
        if spec.kind == "none":
            return
        # by default every stateless service: stores scale by other means than replica count
        names = spec.services if spec.services is not None else [
            n for n, stateful in zip(c.names, c.stateful) if not stateful]
        self.idx = np.array([c.index[s] for s in names], np.int64)
        S, Z = self.idx.size, len(c.zones)
        self.algorithm = HPAlgorithm(spec, S)
        self.pending = np.zeros((S, Z))
        self._usage = np.zeros(S)
        self._replica_ticks = np.zeros(S)
        self._arrivals = np.zeros(S)
        self._fresh = np.zeros(S)
        sim.env.process(self._loop(sim))

    def window(self, sim, tick_index: int, w: Window) -> None:
        if self.algorithm is None:
            return
        tot = w.totals()
        serving = np.asarray(w.replicas, float)[self.idx]
        self._usage += tot.utilization_sum[self.idx] * serving       # busy replica-ticks
        self._replica_ticks += serving * w.ticks
        self._arrivals += tot.arrivals[self.idx]
        self._ticks += w.ticks
        self._observe(sim, tick_index, w.ticks, tot.arrivals)

    def _observe(self, sim, tick_index: int, ticks: int, arrivals: np.ndarray) -> None:
        """A window's arrivals per service, for autoscalers that keep history."""

    def _loop(self, sim):
        # metrics are what the data plane has reported so far (up to one batch old, as a
        # metrics scrape would be): no sync here, so syncs do not split the engine's batches
        while True:
            yield sim.env.timeout(self.spec.sync_period)
            self.sync(sim)

    # -- one sync -----------------------------------------------------------------------
    def sync(self, sim) -> None:
        assert self.algorithm is not None
        if self._ticks == 0:
            return
        st, idx, now = sim.state, self.idx, float(sim.env.now)
        if self._counted[0] != st.version:  # replica counts change only with the state
            self._counted = (st.version, st.up_replicas()[idx].sum(1).astype(float),
                             st.replicas[idx].sum(1).astype(float))
        _, serving, deployed = self._counted
        # Pods lost to a kill or a failed zone are replaced by the ReplicaSet, so they leave the
        # count rather than linger as pods without metrics. Pods that became ready since the
        # last sync have no full metrics window yet: the HPA counts them as not ready.
        fresh = np.minimum(self._fresh, serving)
        starting = self.pending.sum(1)
        ready = serving - fresh
        unready = starting + fresh
        current = serving + starting
        missing = np.zeros_like(current)
        per_replica = np.maximum(self._replica_ticks, 1e-12)
        usage = {"utilization": self._usage / per_replica,
                 "rps": self._arrivals / (per_replica * sim.tick)}
        desired = np.max([self.algorithm.proposal(current, ready, unready, missing, usage[m.type], m.target,
                                                  max(1.0, m.target) if m.type == "utilization" else m.target)
                          for m in self.spec.scaling_metrics], axis=0)
        new = self.algorithm.normalize(now, current, desired, self.floor(sim, now))
        # a Deployment scaled to zero by its owner is not autoscaled (as in the HPA)
        new = np.where(deployed + starting > 0, new, current)
        self.algorithm.record(now, current, new)
        self._usage[:] = 0
        self._replica_ticks[:] = 0
        self._arrivals[:] = 0
        self._fresh[:] = 0
        self._ticks = 0
        delta = (new - current).astype(np.int64)
        if delta.any():
            self._apply(sim, delta)

    def floor(self, sim, now: float) -> np.ndarray | None:
        """Replicas to hold whatever the metrics say (the predictive autoscaler's forecast)."""
        return None

    # -- placing and removing replicas ----------------------------------------------------
    def _apply(self, sim, delta: np.ndarray) -> None:
        up, down = np.maximum(delta, 0), np.maximum(-delta, 0)
        self.scale_ups += int((up > 0).sum())
        self.scale_downs += int((down > 0).sum())
        st, idx = sim.state, self.idx
        zone_up = st.zone_up
        names = [sim.compiled.names[i] for i in idx[delta != 0]]
        target = names[0] if len(names) == 1 else f"{len(names)} services"
        if not zone_up.any():  # nowhere to schedule a pod
            up[:] = 0
        if up.any():
            # spread: each new replica goes to an up zone with the fewest replicas
            count = (st.replicas[idx] + self.pending).astype(float) + np.where(zone_up, 0.0, np.inf)[None, :]
            cohort = np.zeros_like(self.pending)
            rows = np.arange(idx.size)
            for k in range(int(up.max())):
                sel = rows[up > k]
                z = np.argmin(count[sel], axis=1)
                count[sel, z] += 1
                cohort[sel, z] += 1
            self.pending += cohort
            self._cohorts.append(cohort)
            sim.env.process(self._ready(sim, cohort))
        if down.any():
            need = down.astype(float)
            take = np.minimum(need, self.pending.sum(1))    # starting replicas go first
            rows = np.arange(idx.size)
            for k in range(int(take.max(initial=0))):
                sel = rows[take > k]
                z = np.argmax(self.pending[sel], axis=1)       # from the zone with most starting
                self.pending[sel, z] -= 1
                left = np.ones(sel.size, bool)
                for cohort in reversed(self._cohorts):        # the newest start is cancelled
                    can = left & (cohort[sel, z] > 0)
                    cohort[sel[can], z[can]] -= 1
                    left &= ~can
            need -= take
            if need.any():
                sim.change(lambda: self._remove_serving(st, need))
        sim.log("scale-up" if delta.sum() >= 0 else "scale-down", target=target,
                added=int(up.sum()), removed=int(down.sum()))

    def _remove_serving(self, st, need: np.ndarray) -> None:
        """Remove serving replicas, from the zone with the most first (killed pods and pods in a
        failed zone are the ReplicaSet's to replace, not the HPA's to remove)."""
        reps = st.replicas[self.idx].copy()
        healthy = (np.maximum(reps - st.killed[self.idx], 0) * st.zone_up[None, :]).astype(float)
        rows = np.arange(self.idx.size)
        for k in range(int(need.max(initial=0))):
            sel = rows[(need > k) & (healthy[rows].sum(1) > 0)]
            z = np.argmax(healthy[sel], axis=1)
            healthy[sel, z] -= 1
            reps[sel, z] -= 1
        st.replicas[self.idx] = reps

    def _ready(self, sim, cohort: np.ndarray):
        if self.spec.startup > 0:
            yield sim.env.timeout(self.spec.startup)

        def serve() -> None:
            sim.state.replicas[self.idx] += cohort.astype(sim.state.replicas.dtype)
        sim.change(serve)
        self._fresh += cohort.sum(1)
        self.pending -= cohort
        self._cohorts = [c for c in self._cohorts if c is not cohort]

    def summary(self) -> dict[str, Any]:
        return {"kind": self.spec.kind, "services": int(self.idx.size),
                "scale_ups": self.scale_ups, "scale_downs": self.scale_downs}


class PredictiveAutoscaler(Autoscaler):
    """The HPA plus a forecast floor. Entry-point demand is recorded in ``forecast.step`` buckets;
    the fleet's past (``forecast.history`` of the scenario's workload before the run, with Poisson
    noise, as the metrics store would hold it) plus what the run observed is fitted with
    Holt-Winters (additive season, no trend: within a day the level smoothing follows drift) every
    ``forecast.refit``. Each sync, every scaled service is held at the replicas that serve the
    highest forecast demand over the next ``startup + buffer`` at its metric targets; demand reaches
    a service in the ratio of its arrivals to the entry arrivals observed so far."""

    def start(self, sim) -> None:
        super().start(sim)
        if self.algorithm is None:
            return
        f = self.spec.forecast
        self._step = f.step
        self._season = int(round(f.season / f.step))
        n_hist = int(math.ceil(f.history / f.step))
        centers = (np.arange(-n_hist, 0) + 0.5) * f.step
        rate = sim.rate(centers)                                           # total external rate
        rng = sim.control_rng("autoscaling-history")
        self._history = rng.poisson(rate * f.step) / f.step                  # requests/s per bucket
        self._observed = np.zeros(int(math.ceil(sim.duration / f.step)) + 1)  # entry requests per bucket
        self._entry_total = 0.0
        self._service_total = np.zeros(self.idx.size)
        self._forecast_t = np.zeros(0)
        self._forecast = np.zeros(0)
        self._next_fit = 0.0
        c = sim.compiled
        cap = c.concurrency[self.idx] / c.mean_service[self.idx]            # requests/s one replica serves at 100 %
        per_replica = [cap * m.target if m.type == "utilization" else np.full(self.idx.size, m.target)
                       for m in self.spec.scaling_metrics]
        self._per_replica = np.min(per_replica, axis=0)                     # the strictest metric decides
        self._entry_idx = np.asarray(sim.entry_idx)
        self.fits = 0

    def _observe(self, sim, tick_index: int, ticks: int, arrivals: np.ndarray) -> None:
        entry = float(arrivals[self._entry_idx].sum())
        self._entry_total += entry
        self._service_total += arrivals[self.idx]
        # spread the window's entry arrivals over the buckets it covers (usually one)
        first = int((tick_index + 0.5) * sim.tick // self._step)
        last = int((tick_index + ticks - 0.5) * sim.tick // self._step)
        if first == last:
            self._observed[first] += entry
        else:
            t = tick_index * sim.tick + (np.arange(ticks) + 0.5) * sim.tick
            np.add.at(self._observed, (t // self._step).astype(np.int64), entry / ticks)

    def _refit(self, now: float) -> None:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        f = self.spec.forecast
        done = int(now // self._step)                                       # complete buckets observed
        series = np.concatenate([self._history, self._observed[:done] / self._step])
        with warnings.catch_warnings():  # a non-converged fit still forecasts; the run is the judge
            warnings.simplefilter("ignore")
            model = ExponentialSmoothing(series, trend=None, seasonal="add", seasonal_periods=self._season,
                                         initialization_method="heuristic").fit()
        horizon = int(math.ceil((f.refit + self.spec.startup + f.buffer) / self._step)) + 1
        self._forecast = np.maximum(model.forecast(horizon), 0.0)
        self._forecast_t = (done + np.arange(horizon)) * self._step         # bucket starts
        self._next_fit = now + f.refit
        self.fits += 1

    def floor(self, sim, now: float) -> np.ndarray | None:
        if now >= self._next_fit or self._forecast.size == 0:
            self._refit(now)
        if self._entry_total <= 0:
            return None
        ahead = now + self.spec.startup + self.spec.forecast.buffer
        sel = (self._forecast_t + self._step > now) & (self._forecast_t <= ahead)
        demand = float(self._forecast[sel].max()) if sel.any() else float(self._forecast[-1])
        visit = self._service_total / self._entry_total
        return np.ceil(demand * visit / self._per_replica - _EPS)

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "forecast_fits": self.fits}


def make_autoscaler(spec: Autoscaling | None) -> Autoscaler | None:
    """The controller for ``policies.autoscaling``, or None without one."""
    if spec is None or spec.kind == "none":
        return None
    return PredictiveAutoscaler(spec) if spec.kind == "predictive" else Autoscaler(spec)
