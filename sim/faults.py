"""The fault catalogue. Each kind has an ``inject`` that overlays the plane state;
reverting a fault rebuilds the overlays from the faults still active, so
overlapping faults compose and revert cleanly."""

from __future__ import annotations

from typing import Callable

import numpy as np

from scenarios.schema import Fault
from sim.state import PlaneState

__all__ = ["INJECT", "apply_faults"]


def _svc(state: PlaneState, f: Fault) -> int:
    return state.compiled.index[f.service]  # type: ignore[index]


def _kill(state: PlaneState, f: Fault) -> None:
    i = _svc(state, f)
    frozen = state.kill_counts.get(id(f))
    if frozen is not None:  # the pods it killed stay killed when other faults or replicas change
        state.killed[i] = np.minimum(state.killed[i] + frozen, state.replicas[i])
        return
    before = state.killed[i].copy()
    zones = state.compiled.zones
    running = np.maximum(state.replicas[i] - state.killed[i], 0)
    if f.zone is not None:
        running = np.where(np.array(zones) == f.zone, running, 0)
    total = int(running.sum())
    n = f.count if f.count is not None else max(1, int(np.floor((f.fraction or 1.0) * total + 0.5)))
    n = min(n, total)
    # take from the zones with the most running replicas first
    for _ in range(n):
        z = int(np.argmax(running))
        running[z] -= 1
        state.killed[i, z] += 1
    state.kill_counts[id(f)] = state.killed[i] - before


def _zone(state: PlaneState, f: Fault) -> None:
    state.zone_up[state.compiled.zones.index(f.zone)] = False


def _region(state: PlaneState, f: Fault) -> None:
    zones = f.zones or list(state.compiled.zones)
    for z in zones:
        state.zone_up[state.compiled.zones.index(z)] = False


def _latency(state: PlaneState, f: Fault) -> None:
    i = _svc(state, f)
    frac = f.fraction if f.fraction is not None else 1.0
    # two latency faults on one service: delays add, the share is the larger one
    state.extra_delay[i] += f.delay or 0.0
    state.delay_fraction[i] = max(state.delay_fraction[i], frac)


def _errors(state: PlaneState, f: Fault) -> None:
    i = _svc(state, f)
    state.injected_error[i] = 1 - (1 - state.injected_error[i]) * (1 - (f.rate or 0.0))


def _blackhole(state: PlaneState, f: Fault) -> None:
    state.blackhole[state.compiled.edge_index(f.source, f.target)] = True  # type: ignore[arg-type]


def _partition(state: PlaneState, f: Fault) -> None:
    zones = state.compiled.zones
    idx = [zones.index(z) for z in f.zones or []]
    for a in idx:
        for b in idx:
            if a != b:
                state.partition[a, b] = True


def _throttle(state: PlaneState, f: Fault) -> None:
    state.service_mult[_svc(state, f)] *= f.multiplier or 1.0


def _bad_deploy(state: PlaneState, f: Fault) -> None:
    if f.rate:
        _errors(state, f)
    if f.delay:
        _latency(state, f)


def _spike(state: PlaneState, f: Fault) -> None:
    c = state.compiled
    if f.entrypoints:
        for e in f.entrypoints:
            state.load_mult[c.index[e]] *= f.multiplier or 1.0
    else:
        state.load_mult[c.entry] *= f.multiplier or 1.0


INJECT: dict[str, Callable[[PlaneState, Fault], None]] = {
    "kill-instances": _kill,
    "zone-outage": _zone,
    "region-outage": _region,
    "latency": _latency,
    "error-rate": _errors,
    "dependency-blackhole": _blackhole,
    "network-partition": _partition,
    "cpu-throttle": _throttle,
    "bad-deploy": _bad_deploy,
    "traffic-spike": _spike,
}


def apply_faults(state: PlaneState, active: list[Fault]) -> None:
    """Rebuild every fault overlay from the faults active now, in the order they started."""
    state.clear_faults()
    live = {id(f) for f in active}
    state.kill_counts = {k: v for k, v in state.kill_counts.items() if k in live}
    for f in active:
        INJECT[f.kind](state, f)
