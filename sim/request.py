"""The ``request`` engine: one SimPy process per request, walking the call tree.

Exact where the flow engine approximates, and slower: it is the reference the
flow engine is validated against. Per request at a service:

1. no serving replica -> ``unavailable``; an injected error -> ``injected``;
2. the load balancer picks a serving replica at random (all zones, like the
   flow engine); a full queue (``queue_limit`` waiting) -> ``overload``;
3. the request holds one of the replica's ``concurrency`` slots for a service
   time drawn from the service's distribution (times ``cpu-throttle``), then
   any injected delay;
4. it calls its dependencies: ``calls`` is the mean number of calls (the whole
   part always, the fraction by chance); sequential calls one after another,
   parallel calls together (``AllOf``), async calls fired and forgotten. Each
   call races the call's timeout (``AnyOf``); failures are retried after the
   backoff; an open breaker fails the call at once; a blackholed or
   partitioned call hangs until its timeout. A hard synchronous call that
   still fails fails the request; a soft one only costs its time.

A request is counted in the tick it completes (so arrivals = successes +
errors per tick); the external client of an entry point gives up after the
entry's timeout. Latency is measured per request: per-tick percentiles are
exact, and run percentiles come from a log-spaced histogram (0.1 % bins).
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from sim.compiled import MODE_ASYNC, MODE_PAR, Compiled
from sim.plane import ArrayWindow, Window
from sim.state import CAUSES, HALF_OPEN, OPEN, PlaneState

__all__ = ["RequestEngine"]

OK = -1
_UNAVAIL, _OVER, _INJ, _TIMEOUT, _DEP, _CB = range(len(CAUSES))
_HIST_LO, _HIST_DECADES, _HIST_BINS = 1e-6, 10, 20000  # 1 us .. 10^4 s, ratio 1.00115 per bin
_HALF_OPEN_PROBE = 0.1


class _Draws:
    """Bulk random draws, refilled in blocks: one numpy call per 4096 requests, not per request."""

    def __init__(self, rng: np.random.Generator, make) -> None:
        self.rng, self.make = rng, make
        self.buf: list[float] = []

    def __call__(self) -> float:
        if not self.buf:
            self.buf = self.make(self.rng, 4096).tolist()
        return self.buf.pop()


def _service_sampler(rng: np.random.Generator, mean: float, cv: float, kind: str):
    if kind == "deterministic" or cv == 0:
        return lambda: mean
    if kind == "exponential":
        return _Draws(rng, lambda r, k: r.exponential(mean, k))
    if kind == "gamma":
        shape = 1.0 / (cv * cv)
        return _Draws(rng, lambda r, k: r.gamma(shape, mean / shape, k))
    sigma2 = math.log(1 + cv * cv)
    mu = math.log(mean) - sigma2 / 2
    return _Draws(rng, lambda r, k: r.lognormal(mu, math.sqrt(sigma2), k))


class RequestEngine:
    """The per-request data plane; see the module docstring."""

    name = "request"

    def __init__(self, compiled: Compiled, tick: float, probes: list[tuple[int, float]] | None = None,
                 seed: np.random.SeedSequence | None = None, distributions: list[str] | None = None) -> None:
        c = self.c = compiled
        self.tick = tick
        self.env = simpy.Environment()
        self.rng = np.random.default_rng(seed)
        self.uniform = _Draws(self.rng, lambda r, k: r.random(k))
        dist = distributions or ["exponential" if cv == 1 else "lognormal" for cv in np.sqrt(c.scv)]
        self.service_time = [_service_sampler(self.rng, float(c.mean_service[i]), float(math.sqrt(c.scv[i])),
                                              dist[i]) for i in range(c.n)]
        self.callees = [[int(e) for e in np.flatnonzero(c.src == i)] for i in range(c.n)]
        self.zone_of: list[list[int]] = []
        self.replicas: list[list[simpy.Resource]] = [[] for _ in range(c.n)]  # serving replicas now
        self._pool: list[dict[int, list[simpy.Resource]]] = [dict() for _ in range(c.n)]
        self.state: PlaneState | None = None
        self.probe_idx = np.array([p[0] for p in probes or []], np.int64)
        self.probe_thr = np.array([p[1] for p in probes or []], float)
        self.hist = np.zeros((c.n, _HIST_BINS + 2), np.int64)
        self.lat_sum = np.zeros(c.n)
        self.lat_count = np.zeros(c.n, np.int64)
        self.requests = 0
        # time-integral of requests present at each service (for Little's law: L = lambda W)
        self.present = [0] * c.n
        self.area = [0.0] * c.n
        self.changed = [0.0] * c.n
        self._reset_window(0.0, 1)

    # -- windows ---------------------------------------------------------------
    def _reset_window(self, t0: float, T: int) -> None:
        n, m = self.c.n, self.c.m
        self.t0, self.T = t0, T
        self.w_arr = np.zeros((T, n))
        self.w_err = np.zeros((T, n, len(CAUSES)))
        self.w_busy = np.zeros((T, n))
        self.lat_svc: list[int] = []
        self.lat_tick: list[int] = []
        self.lat_val: list[float] = []
        self.e_tries = np.zeros(m)
        self.e_fail = np.zeros(m)

    def _tick_of(self, t: float) -> int:
        return min(max(int((t - self.t0) / self.tick), 0), self.T - 1)

    def _sync_replicas(self, state: PlaneState) -> None:
        up = state.up_replicas()
        c = self.c
        for i in range(c.n):
            serving, zones = [], []
            for z in range(up.shape[1]):
                pool = self._pool[i].setdefault(z, [])
                while len(pool) < up[i, z]:
                    pool.append(simpy.Resource(self.env, capacity=int(c.concurrency[i])))
                serving.extend(pool[:up[i, z]])
                zones.extend([z] * int(up[i, z]))
            self.replicas[i] = serving
            if len(self.zone_of) <= i:
                self.zone_of.append(zones)
            else:
                self.zone_of[i] = zones

    def advance(self, t0: float, external: np.ndarray, state: PlaneState,
                expected: np.ndarray | None = None) -> Window:
        T, n = external.shape
        self.state = state
        self._sync_replicas(state)
        self._reset_window(t0, T)
        arrivals = []
        for t in range(T):
            for i in np.flatnonzero(external[t]):
                k = int(external[t, i])
                times = t0 + (t + np.sort(self.rng.random(k))) * self.tick
                arrivals.extend((float(x), int(i)) for x in times)
        arrivals.sort()
        self.env.process(self._arrive(arrivals))
        self.env.run(until=t0 + T * self.tick)
        return self._window(t0, T, state)

    def _window(self, t0: float, T: int, state: PlaneState) -> ArrayWindow:
        c = self.c
        lat = np.zeros((T, c.n, 4))
        under = np.ones((T, self.probe_idx.size))
        if self.lat_val:
            svc = np.array(self.lat_svc)
            tk = np.array(self.lat_tick)
            val = np.array(self.lat_val)
            # global run histogram and mean
            idx = np.clip(((np.log10(np.maximum(val, 1e-12) / _HIST_LO)) * (_HIST_BINS / _HIST_DECADES)
                           ).astype(np.int64) + 1, 0, _HIST_BINS + 1)
            np.add.at(self.hist, (svc, idx), 1)
            np.add.at(self.lat_sum, svc, val)
            np.add.at(self.lat_count, svc, 1)
            # exact per-(tick, service) mean and percentiles, vectorised over groups
            key = tk * c.n + svc
            order = np.lexsort((val, key))
            key, val_s = key[order], val[order]
            uniq, start, size = np.unique(key, return_index=True, return_counts=True)
            tt, ss = uniq // c.n, uniq % c.n
            lat[tt, ss, 0] = np.add.reduceat(val_s, start) / size
            for j, q in ((1, 0.5), (2, 0.9), (3, 0.99)):
                pos = q * (size - 1)
                lo = np.floor(pos).astype(np.int64)
                hi = np.minimum(lo + 1, size - 1)
                frac = pos - lo
                lat[tt, ss, j] = val_s[start + lo] * (1 - frac) + val_s[start + hi] * frac
            for p, (si, thr) in enumerate(zip(self.probe_idx, self.probe_thr)):
                sel = svc == si
                if sel.any():
                    good = np.bincount(tk[sel], weights=(val[sel] <= thr).astype(float), minlength=T)
                    tot = np.bincount(tk[sel], minlength=T).astype(float)
                    under[:, p] = np.divide(good, tot, out=np.ones(T), where=tot > 0)
        reps = np.array([len(r) for r in self.replicas], float)
        cap = np.maximum(reps * c.concurrency, 1.0) * self.tick
        util = np.minimum(self.w_busy / cap, 1.0)
        return ArrayWindow(t0=t0, ticks=T, replicas=reps, edge_tries=self.e_tries, edge_failures=self.e_fail,
                           arrivals_=self.w_arr, errors_=self.w_err, latency_=lat, utilization_=util,
                           under_=under)

    def run_latency(self) -> np.ndarray:
        """[n, 4] over the whole run: exact mean; p50, p90, p99 from the histogram (0.1 % bins)."""
        out = np.zeros((self.c.n, 4))
        out[:, 0] = np.divide(self.lat_sum, self.lat_count, out=np.zeros(self.c.n), where=self.lat_count > 0)
        edges = _HIST_LO * 10 ** (np.arange(_HIST_BINS + 1) * (_HIST_DECADES / _HIST_BINS))
        mids = np.concatenate([[0.0], np.sqrt(edges[:-1] * edges[1:]), [edges[-1]]])
        cum = np.cumsum(self.hist, axis=1)
        for j, q in ((1, 0.5), (2, 0.9), (3, 0.99)):
            target = q * self.lat_count
            pos = (cum < np.maximum(target, 1)[:, None]).sum(axis=1)
            out[:, j] = np.where(self.lat_count > 0, mids[np.minimum(pos, _HIST_BINS + 1)], 0.0)
        return out

    # -- processes -------------------------------------------------------------
    def _arrive(self, arrivals: list[tuple[float, int]]):
        env = self.env
        for t, i in arrivals:
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(self._client(i))

    def _enter(self, i: int) -> None:
        now = self.env.now
        self.area[i] += self.present[i] * (now - self.changed[i])
        self.changed[i] = now
        self.present[i] += 1

    def _leave(self, i: int) -> None:
        now = self.env.now
        self.area[i] += self.present[i] * (now - self.changed[i])
        self.changed[i] = now
        self.present[i] -= 1

    def mean_present(self, horizon: float) -> np.ndarray:
        """Time-average number of requests present at each service over [0, horizon]."""
        area = [a + p * (horizon - t) for a, p, t in zip(self.area, self.present, self.changed)]
        return np.array(area) / horizon

    def _record(self, i: int, start: float, outcome: int) -> None:
        t = self._tick_of(self.env.now)
        self.w_arr[t, i] += 1
        self.requests += 1
        if outcome == OK:
            self.lat_svc.append(i)
            self.lat_tick.append(t)
            self.lat_val.append(self.env.now - start)
        else:
            self.w_err[t, i, outcome] += 1

    def _client(self, i: int):
        """The external client of entry point ``i``: a response later than the entry's timeout
        is a timeout error (counted when the response comes, without racing a timer)."""
        start = self.env.now
        self._enter(i)
        outcome = yield from self._serve(i, -1, self.state)
        self._leave(i)
        if outcome == OK and self.env.now - start > self.c.timeout[i]:
            outcome = _TIMEOUT
        self._record(i, start, outcome)

    def _handle(self, i: int, caller_zone: int, record: bool = True):
        env = self.env
        st = self.state
        start = env.now
        self._enter(i)
        outcome = yield from self._serve(i, caller_zone, st)
        self._leave(i)
        if record and outcome is not None:  # None: the request never reached the service
            self._record(i, start, outcome)
        return outcome

    def _serve(self, i: int, caller_zone: int, st: PlaneState):
        env = self.env
        c = self.c
        reps = self.replicas[i]
        if not reps:
            return _UNAVAIL
        if st.injected_error[i] > 0 and self.uniform() < st.injected_error[i]:
            return _INJ
        k = int(self.uniform() * len(reps))
        rep = reps[k]
        zone = self.zone_of[i][k]
        if caller_zone >= 0 and st.partition[caller_zone, zone]:
            return None  # unreachable: the caller's timeout decides
        if len(rep.queue) >= c.queue_limit[i] and rep.count >= rep.capacity:
            return _OVER
        with rep.request() as slot:
            yield slot
            s = self.service_time[i]() * st.service_mult[i]
            self.w_busy[self._tick_of(env.now), i] += s
            yield env.timeout(s)
        if st.extra_delay[i] > 0 and self.uniform() < st.delay_fraction[i]:
            yield env.timeout(float(st.extra_delay[i]))
        outcome = OK
        parallel = []
        for e in self.callees[i]:
            calls = c.calls[e]
            n_calls = int(calls) + (1 if self.uniform() < calls - int(calls) else 0)
            for _ in range(n_calls):
                mode = c.mode[e]
                if mode == MODE_ASYNC:
                    env.process(self._call(e, zone))
                elif mode == MODE_PAR:
                    parallel.append((e, env.process(self._call(e, zone))))
                else:
                    res = yield from self._call(e, zone)
                    if res != OK and c.hard[e] and outcome == OK:
                        outcome = _dep_cause(res)
        if parallel:
            yield env.all_of([p for _, p in parallel])
            for e, p in parallel:
                if p.value != OK and c.hard[e] and outcome == OK:
                    outcome = _dep_cause(p.value)
        return outcome

    def _race(self, child: simpy.Process, timeout: float) -> simpy.Event:
        """An event with the child's outcome, or ``_TIMEOUT`` if ``timeout`` passes first.

        Plain callbacks on one event are cheaper than an ``AnyOf`` condition; a partitioned
        callee (outcome None) never answers, so only the timer settles the race."""
        env = self.env
        done = env.event()
        child.callbacks.append(lambda ev: _settle(done, ev.value) if ev.value is not None else None)
        env.timeout(timeout).callbacks.append(lambda ev: _settle(done, _TIMEOUT))
        return done

    def _call(self, e: int, zone: int):
        """One call over dependency ``e`` with timeout, retries and the breaker; returns an outcome."""
        env = self.env
        c = self.c
        st = self.state
        dst = int(c.dst[e])
        timeout = float(c.edge_timeout[e])
        attempts = int(c.attempts[e])
        res = _DEP
        for attempt in range(attempts + 1):
            b = st.breaker[e]
            if b == OPEN or (b == HALF_OPEN and self.uniform() >= _HALF_OPEN_PROBE):
                return _CB
            if attempt:
                yield env.timeout(float(c.backoff[e]))
            self.e_tries[e] += 1
            if st.blackhole[e]:
                yield env.timeout(timeout)
                res = _TIMEOUT
            else:
                res = yield self._race(env.process(self._handle(dst, zone)), timeout)
            if res == OK:
                return OK
            self.e_fail[e] += 1
        return res


def _settle(done: simpy.Event, value: int | None) -> None:
    if not done.triggered:
        done.succeed(value)


def _dep_cause(res: int) -> int:
    """How a failed hard call shows up at the caller."""
    if res == _TIMEOUT:
        return _TIMEOUT
    if res == _CB:
        return _CB
    return _DEP
