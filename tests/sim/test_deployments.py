"""Deployments: the release train, bad releases as bad-deploy faults, canary analysis and its
statistics, rollout waves, rollback by someone else, the deployment measures."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from scenarios.schema import Deployments, Scenario
from sim.deployments import Deployer, Release, canary_latency_test, canary_test, release_train
from sim.simulation import Simulation
from sim.state import CAUSES
from topology import from_dict

INJECTED = CAUSES.index("injected")
TOPO = {"name": "shop", "zones": ["zone-a", "zone-b"], "services": {
    "web": {"entrypoint": True, "replicas": 4, "concurrency": 8, "service_time": {"mean": "5ms"}},
    "api": {"replicas": 4, "concurrency": 8, "service_time": {"mean": "5ms"}}},
    "dependencies": [{"from": "web", "to": "api"}]}


def _sim(duration="3h", engine="flow", rps=100, seed=5, **extra) -> Simulation:
    sc = Scenario.model_validate({
        "name": "deploy", "topology": "shop", "duration": duration, "seed": seed, "engine": engine,
        "workload": {"rate": {"pattern": "constant", "rps": rps}},
        "slos": [{"name": "avail", "service": "web", "target": 99.9, "window": "30d"}], **extra})
    return Simulation(sc, topology=from_dict(TOPO))


def _train(r: dict) -> list[tuple]:
    return [(x["id"], x["service"], x["at"], x["bad"]) for x in r["deployments"]["releases"]]


# -- the release train ------------------------------------------------------------------

def test_release_train_is_a_poisson_process_over_the_services():
    cfg = Deployments(per_day=1000, bad_release_probability=0.2)
    services = ["a", "b", "c", "d"]
    train = release_train(cfg, services, 10 * 86400.0, 1.0, np.random.default_rng(11))
    n = len(train)
    assert abs(n - 10_000) < 4 * np.sqrt(10_000)
    gaps = np.diff([r.at for r in train])
    assert np.all(gaps >= 0) and abs(gaps.mean() - 86.4) < 2.0  # 86,400 s / 1,000
    # exponential gaps (Kolmogorov-Smirnov against the exponential with the train's rate)
    assert stats.kstest(gaps[gaps > 0], "expon", args=(0, 86.4)).pvalue > 1e-3
    counts = [sum(r.service == s for r in train) for s in services]
    assert stats.chisquare(counts).pvalue > 1e-3
    assert abs(sum(r.bad for r in train) / n - 0.2) < 4 * np.sqrt(0.2 * 0.8 / n)
    assert all(r.at == round(r.at) for r in train), "aligned to the tick"


def test_same_seed_same_train_and_the_canary_does_not_change_it():
    deploy = {"per_day": 120, "bad_release_probability": 0.3}
    a = _sim(deployments=deploy).run()
    b = _sim(deployments=deploy).run()
    c = _sim(deployments={**deploy, "canary": {"fraction": 0.1}}).run()
    d = _sim(deployments=deploy, seed=6).run()
    assert len(_train(a)) >= 3
    assert _train(a) == _train(b) == _train(c)
    assert _train(d) != _train(a)
    assert a["deployments"] == b["deployments"] and a["slos"] == b["slos"]


def test_a_shorter_run_sees_the_start_of_the_same_train():
    cfg = Deployments(per_day=500, bad_release_probability=0.3)
    long = release_train(cfg, ["a", "b"], 5 * 86400.0, 1.0, np.random.default_rng(4))
    short = release_train(cfg, ["a", "b"], 86400.0, 1.0, np.random.default_rng(4))
    assert len(short) > 300 and all(r.at < 86400 for r in short)
    assert [(r.at, r.service, r.bad) for r in short] == [(r.at, r.service, r.bad) for r in long[:len(short)]]
    assert long[len(short)].at >= 86400


def test_without_deployments_the_result_has_no_deployments_key(result_contract):
    r = _sim(duration="10m").run()
    result_contract(r, exact=True)
    assert "deployments" not in r


# -- bad releases and canaries ------------------------------------------------------------

def test_a_bad_release_without_canary_rolls_out_in_waves_and_stays():
    sim = _sim(deployments={"per_day": 48, "services": ["api"], "bad_release_probability": 1,
                            "rollout": "20m", "effect": {"error_rate": 0.08}})
    r = sim.run()
    first = r["deployments"]["releases"][0]
    t0 = int(first["started_at"])
    api = sim.compiled.index["api"]
    inj = sim.recorder.errors[:, api, INJECTED].astype(float)
    arr = sim.recorder.arrivals[:, api].astype(float)
    # four waves of five minutes: 2 %, 4 %, 6 %, then 8 % of api's requests fail
    for k in range(4):
        w = slice(t0 + 300 * k + 5, t0 + 300 * (k + 1) - 5)
        assert inj[w].sum() / arr[w].sum() == pytest.approx(0.02 * (k + 1), rel=1e-6)
    assert first["outcome"] == "live" and first["reached_production"] and not first["canary"]
    assert [e["event"] for e in sim.events if e["event"] == "release-wave"][:4] == ["release-wave"] * 4
    assert any(f.kind == "bad-deploy" and f.service == "api" for f in sim.active_faults)


@pytest.fixture(scope="module")
def pair():
    """The same train of bad-prone releases to api, with and without a 10 % canary."""
    deploy = {"per_day": 24, "services": ["api"], "bad_release_probability": 0.5, "rollout": "10m",
              "effect": {"error_rate": 0.05}}
    plain = _sim(duration="6h", deployments=deploy)
    canary = _sim(duration="6h", deployments={**deploy, "canary": {"fraction": 0.1, "analysis_window": "10m"}})
    return (plain, plain.run()), (canary, canary.run())


def test_the_canary_catches_the_bad_releases_the_plain_run_lets_through(pair):
    (plain, p), (canary, c) = pair
    assert _train(p) == _train(c)
    bad = sum(x["bad"] for x in c["deployments"]["releases"] if x["started_at"] is not None)
    assert bad >= 2
    dc, dp = c["deployments"], p["deployments"]
    assert dc["canary"]["caught"] == bad and dc["canary"]["escaped"] == 0 and dc["degraded"] == 0
    assert dc["change_failure_rate"] == 0.0
    assert dp["degraded"] >= 2 and dp["change_failure_rate"] > 0.2 and dp["canary"]["analysed"] == 0
    # SLO budget consumed over the run: the canary's share of 10 minutes against live bad releases
    spent_plain = 1 - p["slos"][0]["budget_remaining"]
    spent_canary = 1 - c["slos"][0]["budget_remaining"]
    assert spent_plain > 0.10 and spent_canary < 0.01 and spent_plain > 30 * spent_canary
    for x in dc["releases"]:
        if x["bad"] and x["started_at"] is not None:
            assert x["outcome"] == "rolled-back" and x["rolled_back_by"] == "canary"
            assert x["ended_at"] == x["started_at"] + 600 and x["p_value"] < 0.01


def test_a_canary_rollback_ends_the_errors(pair):
    _, (sim, r) = pair
    api = sim.compiled.index["api"]
    inj = sim.recorder.errors[:, api, INJECTED].astype(float)
    arr = sim.recorder.arrivals[:, api].astype(float)
    in_canary = np.zeros(len(inj), bool)
    for x in r["deployments"]["releases"]:
        if x["bad"] and x["started_at"] is not None:
            s, e = int(x["started_at"]), int(x["ended_at"])
            in_canary[s:e] = True
            # 10 % of api's traffic at 5 % errors: 0.5 % of its requests while the canary runs
            assert inj[s + 5:e - 5].sum() / arr[s + 5:e - 5].sum() == pytest.approx(0.005, rel=1e-6)
    assert inj[~in_canary].sum() == 0, "no injected errors outside the canaries"


def test_canary_with_the_request_engine(result_contract):
    sim = _sim(duration="1h", engine="request", rps=25, seed=1,
               deployments={"per_day": 72, "services": ["api"], "bad_release_probability": 0.5, "rollout": "5m",
                            "effect": {"error_rate": 0.2},
                            "canary": {"fraction": 0.2, "analysis_window": "5m"}})
    r = sim.run()
    result_contract(r)
    d = r["deployments"]
    started = [x for x in d["releases"] if x["started_at"] is not None]
    assert sum(x["bad"] for x in started) >= 1 and sum(not x["bad"] for x in started) >= 1
    assert d["canary"]["caught"] == sum(x["bad"] for x in started if x["p_value"] is not None)
    assert d["canary"]["escaped"] == 0 and d["degraded"] == 0
    api = sim.compiled.index["api"]
    for x in started:
        if x["bad"]:
            s, e = int(x["started_at"]), int(x["ended_at"])
            ratio = sim.recorder.errors[s:e, api, INJECTED].sum() / sim.recorder.arrivals[s:e, api].sum()
            assert ratio == pytest.approx(0.2 * 0.2, abs=0.015)  # measured per request: 4 % +- noise


# -- canary statistics ----------------------------------------------------------------------

def test_a_good_release_fails_its_canary_at_about_the_significance_level():
    rng = np.random.default_rng(1)
    p = np.array([canary_test(60_000, 120, 0.05, 0.0, rng)[0] for _ in range(2000)])
    # at most the significance level (+ 2 standard errors); Fisher's test on counts is conservative
    assert 0.015 <= np.mean(p < 0.05) <= 0.06
    lat = np.array([canary_latency_test(0.010, 0.025, 3000, 57_000, 0.0, rng) for _ in range(1000)])
    assert np.mean(lat < 0.05) == pytest.approx(0.05, abs=0.02)


def test_canary_test_splits_the_measured_counts_and_detects_the_effect():
    rng = np.random.default_rng(2)
    # 60,000 requests, a 5 % canary failing 4 % of its requests on top of a 0.2 % baseline
    n, base, eff, frac = 60_000, 0.002, 0.04, 0.05
    errors = n * (1 - (1 - base) * (1 - eff * frac))
    p, (e_c, n_c, e_b, n_b) = canary_test(n, errors, frac, eff, rng)
    assert n_c + n_b == n and e_c + e_b == round(errors)
    assert abs(n_c - n * frac) < 4 * np.sqrt(n * frac)
    assert e_c / n_c == pytest.approx(1 - (1 - base) * (1 - eff), abs=0.01)
    assert e_b / n_b == pytest.approx(base, abs=0.001)
    assert p < 1e-12
    # too little traffic for a small effect: no detection (the power of the test is what it is)
    weak = [canary_test(400, 400 * 0.0005, 0.05, 0.01, rng)[0] for _ in range(200)]
    assert np.mean(np.array(weak) < 0.01) < 0.1
    # no traffic at all: nothing to judge, no rollback
    assert canary_test(0, 0, 0.05, 0.5, rng)[0] == 1.0


def test_latency_comparison_detects_added_delay():
    rng = np.random.default_rng(3)
    assert canary_latency_test(0.010, 0.025, 3000, 57_000, 0.010, rng) < 1e-6  # +10 ms on a 10 ms median
    assert canary_latency_test(0.010, 0.025, 3000, 57_000, 0.0002, rng) > 1e-3  # +0.2 ms is lost in the noise


def test_a_latency_only_bad_release_is_caught_by_its_canary():
    sim = _sim(duration="4h", deployments={"per_day": 36, "services": ["api"], "bad_release_probability": 0.5,
                                           "effect": {"delay": "30ms"}, "canary": {"fraction": 0.1}})
    r = sim.run()
    started = [x for x in r["deployments"]["releases"] if x["p_value"] is not None]
    bad = [x for x in started if x["bad"]]
    assert bad and all(x["rolled_back_by"] == "canary" and x["p_latency"] < 1e-6 for x in bad)
    assert all(x["p_errors"] == 1.0 for x in bad), "no error effect: the latency test caught it"
    assert not any(f.kind == "bad-deploy" for f in sim.active_faults)


# -- someone else rolls back (a responder's runbook) ----------------------------------------

class Responder:
    """Reverts every active bad-deploy fault on ``service`` at ``at``, as a remediation runbook would."""

    def __init__(self, service: str, at: float) -> None:
        self.service, self.at = service, at

    def start(self, sim) -> None:
        def run():
            yield sim.env.timeout(self.at)
            for f in [f for f in sim.active_faults if f.kind == "bad-deploy" and f.service == self.service]:
                sim.revert(f, event="runbook-rollback")
        sim.env.process(run())

    def window(self, sim, tick_index, w) -> None:
        pass


def test_a_release_reverted_by_someone_else_stays_reverted():
    sim = _sim(duration="2h", deployments={"per_day": 48, "services": ["api"], "bad_release_probability": 1,
                                           "rollout": "40m"})
    # the deployer's train, drawn ahead to aim the responder at the middle of the first rollout
    first = release_train(sim.scenario.deployments, ["api"], sim.duration, sim.tick,
                          sim.control_rng("deployments"))[0]
    at = first.at + 15 * 60
    sim.controllers.append(Responder("api", at))
    r = sim.run()
    x = r["deployments"]["releases"][0]
    assert x["outcome"] == "rolled-back" and x["rolled_back_by"] == "other"
    api = sim.compiled.index["api"]
    nxt = min([y["started_at"] for y in r["deployments"]["releases"][1:] if y["started_at"]] + [sim.duration])
    # the later waves do not bring the release back
    assert sim.recorder.errors[int(at):int(nxt), api, INJECTED].sum() == 0
    assert sim.recorder.errors[int(at) - 60:int(at), api, INJECTED].sum() > 0
    assert r["deployments"]["rolled_back_by"]["other"] >= 1


# -- measures ---------------------------------------------------------------------------------

def test_change_failure_rate_and_success_rate_arithmetic():
    d = Deployer(Deployments(per_day=1))
    d._index = {"s": 0}
    rel = lambda k, bad, phase, **kw: Release(k, "s", float(k), bad, phase=phase, started_at=float(k), **kw)
    d.releases = (
        [rel(k, False, "live") for k in range(6)]                                        # 6 good, shipped
        + [rel(6, False, "rolled-back", canary=True, p_value=0.001, rolled_back_by="canary")]  # false alarm
        + [rel(k, True, "rolled-back", canary=True, p_value=1e-9, rolled_back_by="canary") for k in (7, 8)]
        + [rel(9, True, "live", canary=True, p_value=0.4, reached_production=True)]      # escaped
        + [rel(10, True, "rolled-back", reached_production=True, rolled_back_by="budget-policy")]
        + [rel(11, False, "rolling-out")]                                                # still in flight
        + [Release(12, "s", 12.0, False, phase="frozen"), Release(13, "s", 13.0, True)]  # frozen, pending
    )
    sim = SimpleNamespace(active_faults=[], env=SimpleNamespace(now=20.0))
    s = d.summary(sim)
    assert (s["scheduled"], s["started"], s["finished"], s["in_progress"], s["frozen"], s["pending"]) == \
        (14, 12, 11, 1, 1, 1)
    assert s["bad"] == 4 and s["successful"] == 6 and s["degraded"] == 2
    assert s["success_rate"] == pytest.approx(6 / 11)
    assert s["change_failure_rate"] == pytest.approx(2 / 11)
    assert s["rolled_back"] == 4 and s["rolled_back_by"] == {"canary": 3, "budget-policy": 1, "other": 0}
    assert s["canary"] == {"analysed": 4, "caught": 2, "escaped": 1, "false_alarms": 1}
    assert len(s["releases"]) == 14 and s["releases"][9]["outcome"] == "live"
