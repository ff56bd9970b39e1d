"""Fidelity: the request engine against queueing theory, the flow engine against theory,
and the flow engine against the request engine on small scenarios.

Tolerances (issue 4): against theory, means within 3 % and p99 within 5 %; flow against
request, availability within 0.5 percentage points, mean latency within 10 %, p99 within 15 %.
Seeds are fixed, so every number here is reproducible.
"""

from __future__ import annotations

import math

import pytest
from scipy.optimize import brentq
from scipy.special import gammaincinv

from scenarios.schema import Scenario
from sim.queueing import erlang_c_exact
from sim.simulation import Simulation
from topology import from_dict


# -- helpers -------------------------------------------------------------------

def _stations(stations: list[dict], deps: list[dict] | None = None, zones=("zone-a",)):
    services = {}
    for k, st in enumerate(stations):
        services[f"s{k}"] = {"entrypoint": k == 0, "replicas": st.get("replicas", {"zone-a": 1}),
                             "concurrency": st.get("c", 1), "timeout": "10s", "queue_limit": 10_000_000,
                             "service_time": {"mean": st["mean"], **({"cv": st["cv"]} if "cv" in st else {})}}
    if deps is None:
        deps = [{"from": f"s{k - 1}", "to": f"s{k}"} for k in range(1, len(stations))]
    return from_dict({"name": "q", "zones": list(zones), "services": services, "dependencies": deps})


def _run(topo, engine: str, rps: float, duration: float, seed: int = 7, **extra):
    sc = Scenario.model_validate({"name": "fidelity", "topology": "inline", "duration": duration, "engine": engine,
                                  "seed": seed, "workload": {"rate": {"pattern": "constant", "rps": rps}},
                                  "flow": {"batch": 60}, **extra})
    sim = Simulation(sc, topology=topo)
    return sim, sim.run()


def _within(got: float, want: float, rel: float) -> None:
    assert abs(got - want) <= rel * abs(want), f"{got:.6g} vs {want:.6g} ({(got - want) / want:+.2%}, allowed {rel:.0%})"


def mmc_theory(lam: float, mean: float, c: int) -> tuple[float, float]:
    """Mean and p99 of the time in system of an M/M/c queue."""
    mu = 1 / mean
    C = erlang_c_exact(c, lam / mu)
    theta = c * mu - lam
    w = C / theta + mean
    if abs(mu - theta) < 1e-12:
        sf = lambda t: math.exp(-mu * t) * (1 + C * mu * t)  # noqa: E731
    else:
        sf = lambda t: math.exp(-mu * t) + C * mu / (mu - theta) * (math.exp(-theta * t) - math.exp(-mu * t))  # noqa: E731
    p99 = brentq(lambda t: sf(t) - 0.01, 0, 1000 * w)
    return w, p99


# -- the request engine against theory ---------------------------------------------

MMC_CASES = [
    pytest.param(1, 0.5, 150_000, id="M/M/1 rho 0.5"),
    pytest.param(4, 0.5, 150_000, id="M/M/4 rho 0.5"),
    pytest.param(4, 0.9, 1_200_000, id="M/M/4 rho 0.9", marks=pytest.mark.slow),
    pytest.param(1, 0.9, 1_500_000, id="M/M/1 rho 0.9", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("c,rho,customers", MMC_CASES)
def test_request_engine_mmc(c, rho, customers):
    mean = 0.001
    lam = rho * c / mean
    sim, r = _run(_stations([{"mean": "1ms", "c": c}]), "request", lam, customers / lam)
    w, p99 = mmc_theory(lam, mean, c)
    lat = r["services"]["s0"]["latency_ms"]
    _within(lat["mean"] / 1e3, w, 0.03)
    _within(lat["p99"] / 1e3, p99, 0.05)
    # Little's law: time-average number present = arrival rate x mean time in system
    n = r["services"]["s0"]["requests"]
    L = sim.engine.mean_present(sim.duration)[0]
    _within(L, n / sim.duration * lat["mean"] / 1e3, 0.01)


def test_request_engine_md1_pollaczek_khinchine():
    mean, rho = 0.001, 0.7
    lam = rho / mean
    sim, r = _run(_stations([{"mean": "1ms", "cv": 0.0}]), "request", lam, 150_000 / lam)
    w = rho * mean / (2 * (1 - rho)) + mean
    lat = r["services"]["s0"]["latency_ms"]
    _within(lat["mean"] / 1e3, w, 0.03)
    L = sim.engine.mean_present(sim.duration)[0]
    _within(L, r["services"]["s0"]["requests"] / sim.duration * lat["mean"] / 1e3, 0.01)


def test_request_engine_jackson_tandem():
    """Three M/M/1 stations in series: the time in system is the sum of three
    exponential sojourns of rate mu - lambda (an Erlang-3)."""
    mean, rho = 0.001, 0.6
    lam = rho / mean
    sim, r = _run(_stations([{"mean": "1ms"}] * 3), "request", lam, 100_000 / lam)
    rate = 1 / mean - lam
    lat = r["services"]["s0"]["latency_ms"]
    _within(lat["mean"] / 1e3, 3 / rate, 0.03)
    _within(lat["p99"] / 1e3, gammaincinv(3, 0.99) / rate, 0.05)
    for k in range(3):  # each station on its own is M/M/1 (Jackson), and obeys Little's law
        s = r["services"][f"s{k}"]
        if k:
            _within(s["latency_ms"]["mean"] / 1e3, (3 - k) / rate, 0.03)
        _within(sim.engine.mean_present(sim.duration)[k], s["requests"] / sim.duration * s["latency_ms"]["mean"] / 1e3,
                0.01)


# -- the flow engine against theory ---------------------------------------------------

@pytest.mark.parametrize("c,rho", [(1, 0.5), (4, 0.5), (4, 0.9), (1, 0.9), (16, 0.8)])
def test_flow_engine_mmc(c, rho):
    mean = 0.001
    lam = rho * c / mean
    _, r = _run(_stations([{"mean": "1ms", "c": c}]), "flow", lam, 600)
    w, p99 = mmc_theory(lam, mean, c)
    lat = r["services"]["s0"]["latency_ms"]
    _within(lat["mean"] / 1e3, w, 0.03)
    _within(lat["p99"] / 1e3, p99, 0.05)


def test_flow_engine_md1_and_tandem():
    mean, rho = 0.001, 0.7
    lam = rho / mean
    _, r = _run(_stations([{"mean": "1ms", "cv": 0.0}]), "flow", lam, 600)
    _within(r["services"]["s0"]["latency_ms"]["mean"] / 1e3, rho * mean / (2 * (1 - rho)) + mean, 0.01)
    lam = 0.6 / mean
    _, r = _run(_stations([{"mean": "1ms"}] * 3), "flow", lam, 600)
    rate = 1 / mean - lam
    _within(r["services"]["s0"]["latency_ms"]["mean"] / 1e3, 3 / rate, 0.01)
    _within(r["services"]["s0"]["latency_ms"]["p99"] / 1e3, gammaincinv(3, 0.99) / rate, 0.05)


# -- the flow engine against the request engine ------------------------------------------

from sim.fidelity import CASES, TOLERANCE, compare  # noqa: E402

_OVERLOAD_WHY = (
    "Known limit of the flow engine: at 120 % of db's capacity with two retries per api call, both "
    "engines collapse into a retry-driven overload, but they settle at different points of it "
    "(availability 13.1 % flow vs 7.0 % request). The flow engine solves each batch as a stationary "
    "M/M/c/K queue with one batch of lag on the retry feedback; a collapse is a transient in which the "
    "queue content and the retry timing carry over between ticks. Matching it would need the queue "
    "content as a state variable (a fluid queue with memory) instead of the stationary solution.")


@pytest.mark.slow
@pytest.mark.parametrize("case", [
    pytest.param(c, id=c.name, marks=pytest.mark.xfail(strict=True, reason=_OVERLOAD_WHY) if c.name == "overload"
                 else ()) for c in CASES])
def test_flow_engine_reproduces_the_request_engine(case):
    r = compare(case)
    avail, mean, p99 = r["availability"], r["mean"], r["p99"]
    assert abs(avail[2]) <= TOLERANCE["availability"], f"availability flow {avail[0]:.4%} vs request {avail[1]:.4%}"
    assert abs(mean[2]) <= TOLERANCE["mean"], f"mean latency flow {mean[0]:.2f}ms vs request {mean[1]:.2f}ms"
    assert abs(p99[2]) <= TOLERANCE["p99"], f"p99 latency flow {p99[0]:.1f}ms vs request {p99[1]:.1f}ms"
