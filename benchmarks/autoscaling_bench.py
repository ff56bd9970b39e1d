"""What the autoscalers cost on the 2,847-service reference fleet: the same 6 simulated hours
(diurnal load rising to the peak) without autoscaling (the baseline, timed in the same run),
under the HPA on every stateless service, and under the predictive autoscaler.

    python -m benchmarks.autoscaling_bench [--hours 6]

Goal: the HPA's per-sync work is vectorised over services, so it adds well under the data
plane's own cost (ratio below 1.5x). The predictive autoscaler's statsmodels import (about
1 s, once per process) is done before timing.
"""

from __future__ import annotations

import argparse
import importlib
import time

from benchmarks._common import Row, print_table
from experiments.autoscalers import with_autoscaling
from scenarios import bind, load
from scenarios.schema import Autoscaling
from sim import Simulation



def _timed(sc, topo) -> tuple[float, dict]:
    sim = Simulation(sc, topology=topo)
    t0 = time.perf_counter()
    result = sim.run()
    return time.perf_counter() - t0, result


def main(argv: list[str] | None = None) -> None:

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--hours", type=float, default=6.0)
    args = p.parse_args(argv)
    base = load("fleet-day").with_overrides(duration=f"{args.hours:g}h")
    base = base.model_copy(update={"faults": []})
    topo = bind(base)
    rows: list[Row] = []
    _timed(base.with_overrides(duration="10m"), topo)  # warm-up: one-off costs stay out of the baseline
    plain, _ = _timed(base, topo)
    n = len(topo)
    rows.append(Row(n, "no autoscaling", plain, "itself", 1.0, f"{args.hours:g} simulated hours"))
    importlib.import_module("statsmodels.tsa.holtwinters")  # a one-off ~1 s import, not per-sync work
    for kind in ("hpa", "predictive"):
        spec = Autoscaling(kind=kind, target_utilization=0.6, min=1, max=50)
        sc = with_autoscaling(base, spec)
        seconds, result = _timed(sc, topo)
        a = result["capacity"]["autoscaling"]
        syncs = int(args.hours * 3600 / spec.sync_period)
        rows.append(Row(n, kind, seconds, "no autoscaling", seconds / plain,
                        f"{a['services']} services x {syncs} syncs, {(seconds - plain) / syncs * 1e3:.2f} ms per sync"))
    print_table(rows)


if __name__ == "__main__":
    main()
