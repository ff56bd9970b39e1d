"""Request-engine speed against a minimal raw SimPy model and against Ciw, on the same queues.

    python -m benchmarks.request_speed [--requests 100000]

Two queueing networks, each simulated by the three tools for the same horizon:
an M/M/4 station at utilisation 0.9, and a tandem of three M/M/1 stations at 0.7
(a Jackson network). Printed: customers simulated per wall second, srelab's rate as
a ratio to raw SimPy's and to Ciw's (goals: >= 0.6x and >= 1.2x), and each tool's
mean time in system against the analytic value, so speed is compared at equal accuracy.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import simpy

from scenarios.schema import Scenario
from sim.queueing import erlang_c_exact
from sim.simulation import Simulation
from topology import from_dict


def _topology(stations: list[tuple[float, int]]):
    services, deps = {}, []
    for k, (mean, c) in enumerate(stations):
        services[f"s{k}"] = {"entrypoint": k == 0, "replicas": {"zone-a": 1}, "concurrency": c,
                             "service_time": {"mean": mean}, "timeout": "10s", "queue_limit": 10_000_000}
        if k:
            deps.append({"from": f"s{k - 1}", "to": f"s{k}", "calls": 1.0})
    return from_dict({"name": "bench", "zones": ["zone-a"], "services": services, "dependencies": deps})


def run_srelab(stations, lam: float, horizon: float) -> tuple[int, float, float]:
    topo = _topology(stations)
    sc = Scenario.model_validate({"name": "bench", "topology": "bench", "duration": horizon, "tick": "1s",
                                  "engine": "request", "workload": {"rate": {"pattern": "constant", "rps": lam}},
                                  "flow": {"batch": 60}})
    sim = Simulation(sc, seed=1, topology=topo)
    t0 = time.perf_counter()
    r = sim.run()
    wall = time.perf_counter() - t0
    entry = r["services"]["s0"]
    return int(entry["requests"]), wall, entry["latency_ms"]["mean"] / 1e3


def run_simpy(stations, lam: float, horizon: float) -> tuple[int, float, float]:
    rng = np.random.default_rng(1)
    env = simpy.Environment()
    res = [simpy.Resource(env, capacity=c) for _, c in stations]
    soj: list[float] = []

    def customer():
        start = env.now
        for r, (mean, _) in zip(res, stations):
            with r.request() as req:
                yield req
                yield env.timeout(rng.exponential(mean))
        soj.append(env.now - start)

    def source():
        while True:
            yield env.timeout(rng.exponential(1 / lam))
            env.process(customer())

    env.process(source())
    t0 = time.perf_counter()
    env.run(until=horizon)
    return len(soj), time.perf_counter() - t0, float(np.mean(soj))


def run_ciw(stations, lam: float, horizon: float) -> tuple[int, float, float]:
    import ciw
    k = len(stations)
    routing = [[1.0 if j == i + 1 else 0.0 for j in range(k)] for i in range(k)]
    net = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(lam)] + [None] * (k - 1),
        service_distributions=[ciw.dists.Exponential(1 / mean) for mean, _ in stations],
        number_of_servers=[c for _, c in stations], routing=routing)
    ciw.seed(1)
    q = ciw.Simulation(net)
    t0 = time.perf_counter()
    q.simulate_until_max_time(horizon)
    wall = time.perf_counter() - t0
    recs = q.get_all_records()
    # a customer's time in system: from arrival at the first node to its exit from the last
    first = {r.id_number: r.arrival_date for r in recs if r.node == 1}
    done = [r.exit_date - first[r.id_number] for r in recs if r.node == k and r.id_number in first]
    return len(done), wall, float(np.mean(done))


def _theory(stations, lam: float) -> float:
    total = 0.0
    for mean, c in stations:
        mu = 1 / mean
        total += erlang_c_exact(c, lam / mu) / (c * mu - lam) + mean
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100_000, help="customers per tool and network (about)")
    args = ap.parse_args(argv)
    cases = {
        "M/M/4 at 0.9": ([(0.004, 4)], 900.0),
        "3 x M/M/1 tandem at 0.7": ([(0.001, 1), (0.001, 1), (0.001, 1)], 700.0),
    }
    print(f"{'network':<24} {'tool':<8} {'customers':>10} {'per wall s':>11} {'mean W':>9} {'theory':>9} "
          f"{'error':>7}")
    for name, (stations, lam) in cases.items():
        horizon = args.requests / lam
        theory = _theory(stations, lam)
        rates = {}
        for tool, fn in (("srelab", run_srelab), ("simpy", run_simpy), ("ciw", run_ciw)):
            n, wall, w = fn(stations, lam, horizon)
            rates[tool] = n / wall
            print(f"{name:<24} {tool:<8} {n:>10,} {n / wall:>11,.0f} {w * 1e3:>8.3f}ms {theory * 1e3:>8.3f}ms "
                  f"{(w - theory) / theory:>+7.1%}")
        print(f"{name:<24} srelab / raw SimPy = {rates['srelab'] / rates['simpy']:.2f}x (goal >= 0.6x), "
              f"srelab / Ciw = {rates['srelab'] / rates['ciw']:.2f}x (goal >= 1.2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
