"""The error budget policy: green / yellow / red at the budget thresholds, with the actions of each
level (deploy gate, alert sensitivity, freeze, rollback, escalation) and their reasons.

One service at 100 rps with a 99.9 % SLO over a 1-day window: a constant error ratio e spends the
budget at e / 0.001 x t / 86400, so 1 % errors from the start leave 50 % at 72 min (4320 s) and
20 % at 115.2 min (6912 s). The policy evaluates every minute, so a level changes at the first
evaluation past those times."""

from __future__ import annotations

import re

import pytest

from scenarios.schema import BudgetPolicy as BudgetPolicyConfig
from scenarios.schema import Scenario
from sim.alerting import AlertEvaluator
from sim.budget_policy import BudgetPolicy
from sim.deployments import GREEN, RED, YELLOW
from sim.simulation import Simulation
from topology import from_dict

TOPO = {"name": "one", "zones": ["zone-a"], "services": {
    "web": {"entrypoint": True, "replicas": 40, "concurrency": 8, "service_time": {"mean": "5ms"}}}}
SLO = {"name": "avail", "service": "web", "target": 99.9, "window": "1d"}
ONE_PERCENT = [{"at": 0, "kind": "error-rate", "service": "web", "rate": 0.01}]


def _run(duration="2h", faults=ONE_PERCENT, rps=100, **extra) -> tuple[Simulation, dict]:
    sc = Scenario.model_validate({
        "name": "budget", "topology": "one", "duration": duration, "seed": 3,
        "workload": {"rate": {"pattern": "constant", "rps": rps}} if isinstance(rps, (int, float)) else rps,
        "slos": [SLO], "faults": faults, **extra})
    sim = Simulation(sc, topology=from_dict(TOPO))
    return sim, sim.run()


def _actions(r: dict, at: float | None = None) -> list[str]:
    return [a["action"] for a in r["policy_actions"] if at is None or a["at"] == at]


def _first(r: dict, action: str) -> dict:
    return next(a for a in r["policy_actions"] if a["action"] == action)


def test_yellow_then_red_at_the_default_thresholds_with_their_actions_and_reasons():
    sim, r = _run(policies={"budget": {}})
    yellow, red = _first(r, "yellow"), _first(r, "red")
    assert 4320 <= yellow["at"] <= 4320 + 60
    assert 6912 <= red["at"] <= 6912 + 60
    # without deployments there is nothing to gate or freeze: alerting gets more sensitive, red escalates
    assert _actions(r, yellow["at"]) == ["yellow", "alert-sensitivity"]
    assert _actions(r, red["at"]) == ["red", "escalate"]
    assert _actions(r) == ["yellow", "alert-sensitivity", "red", "escalate"]
    for a in r["policy_actions"]:
        assert set(a) == {"at", "policy", "action", "target", "reason"} and a["policy"] == "budget"
    # the reason names the SLO and the budget left, which is the analytic number at that time
    for entry, bound in ((yellow, "below 50% (yellow)"), (red, "below 20% (red)")):
        assert entry["target"] == "avail"
        m = re.match(r"avail: (\d+\.\d\d)% of the error budget left, " + re.escape(bound), entry["reason"])
        assert m, entry["reason"]
        assert float(m.group(1)) == pytest.approx(100 * (1 - 0.01 / 0.001 * entry["at"] / 86400), abs=0.02)
    assert "alert burn-rate factors x0.5" in _first(r, "alert-sensitivity")["reason"]
    assert next(c for c in sim.controllers if isinstance(c, AlertEvaluator)).factor_scale == 0.5
    # the same actions are in the timeline
    logged = [(e["event"], e["at"]) for e in sim.events if e["event"].startswith("budget-")]
    assert logged == [(f"budget-{a['action']}", a["at"]) for a in r["policy_actions"]]


def test_thresholds_are_configurable():
    _, r = _run(policies={"budget": {"yellow_below": 80, "red_below": 60}})
    # 1 % errors spend 10 x t / 1 day: 20 % gone at 1728 s, 40 % at 3456 s
    assert 1728 <= _first(r, "yellow")["at"] <= 1728 + 60
    assert 3456 <= _first(r, "red")["at"] <= 3456 + 60
    assert "below 80% (yellow)" in _first(r, "yellow")["reason"]


def test_no_policy_no_actions():
    _, r = _run()
    assert r["policy_actions"] == []


def test_hysteresis_worse_at_once_better_only_a_margin_above():
    p = BudgetPolicy(BudgetPolicyConfig(yellow_below=50, red_below=20, hysteresis=5))
    assert [p.classify(b, GREEN) for b in (60, 50, 49.9, 20, 19.9, -40)] == [GREEN, GREEN, YELLOW, YELLOW, RED, RED]
    assert [p.classify(b, RED) for b in (19, 20, 24.9, 25, 54.9, 55)] == [RED, RED, RED, YELLOW, YELLOW, GREEN]
    assert [p.classify(b, YELLOW) for b in (19.9, 50, 54.9, 55)] == [RED, YELLOW, YELLOW, GREEN]


# releases to web every ~7 min on average (200 a day), all good, 4-minute rollouts
TRAIN = {"per_day": 200, "bad_release_probability": 0, "rollout": "4m"}


@pytest.fixture(scope="module")
def gated():
    return _run(deployments=TRAIN, policies={"budget": {"release_spacing": "20m"}})


def test_yellow_gates_releases_and_red_freezes_them(gated):
    sim, r = gated
    yellow_at, red_at = _first(r, "yellow")["at"], _first(r, "red")["at"]
    assert _actions(r, yellow_at) == ["yellow", "deploy-gate", "alert-sensitivity"]
    assert _actions(r, red_at) == ["red", "deploy-freeze", "rollback", "escalate"]
    assert "releases to web need a canary and 20 min spacing" in _first(r, "deploy-gate")["reason"]
    rels = r["deployments"]["releases"]
    before = [x for x in rels if x["started_at"] is not None and x["started_at"] < yellow_at]
    gated_rels = [x for x in rels if x["started_at"] is not None and yellow_at <= x["started_at"] < red_at]
    assert before and not any(x["canary"] for x in before)
    # yellow: every release goes through a canary, and they start at least 20 minutes apart
    # (a canary and a rollout take 14)
    assert len(gated_rels) >= 2 and all(x["canary"] for x in gated_rels)
    starts = [x["started_at"] for x in gated_rels]
    assert min(b - a for a, b in zip(starts, starts[1:])) >= 1200
    # red: nothing starts any more; everything scheduled after it is frozen
    assert not [x for x in rels if x["started_at"] is not None and x["started_at"] >= red_at]
    after = [x for x in rels if x["at"] > red_at]
    assert after and all(x["outcome"] == "frozen" for x in after)
    assert r["deployments"]["frozen"] >= len(after)
    # ... and the last change is rolled back at once
    [rolled] = [x for x in rels if x["rolled_back_by"] == "budget-policy"]
    assert rolled["ended_at"] == red_at and rolled["started_at"] == max(x["started_at"] for x in rels
                                                                        if x["started_at"] is not None)
    assert _first(r, "rollback")["target"] == "web"
    assert f"release #{rolled['id']} to web" in _first(r, "rollback")["reason"]


def test_without_the_policy_the_same_train_keeps_shipping(gated):
    _, r = _run(deployments=TRAIN)
    _, with_policy = gated
    red_at = _first(with_policy, "red")["at"]
    assert [(x["id"], x["at"]) for x in r["deployments"]["releases"]] == \
        [(x["id"], x["at"]) for x in with_policy["deployments"]["releases"]]
    assert r["deployments"]["frozen"] == 0
    assert [x for x in r["deployments"]["releases"] if x["started_at"] is not None and x["started_at"] > red_at]


def test_red_rolls_back_the_bad_release_and_its_errors_end():
    """Every release to web is bad (5 % errors): the budget goes red, the policy rolls the live
    releases back one after another while the SLO still burns, and the errors stop."""
    sim, r = _run(duration="3h", faults=[], deployments={"per_day": 24, "bad_release_probability": 1,
                                                         "rollout": "4m", "effect": {"error_rate": 0.05}},
                  policies={"budget": {}})
    rollbacks = [a for a in r["policy_actions"] if a["action"] == "rollback"]
    assert rollbacks and _first(r, "red")["at"] == rollbacks[0]["at"]
    last = rollbacks[-1]["at"]
    web = sim.compiled.index["web"]
    injected = sim.recorder.errors[:, web, 2].astype(float)  # CAUSES[2] == "injected"
    arrivals = sim.recorder.arrivals[:, web].astype(float)
    t = int(last)
    assert injected[t:].sum() == 0 and arrivals[t:].sum() > 0, "no errors once the releases are rolled back"
    assert injected[t - 300:t].sum() / arrivals[t - 300:t].sum() > 0.04, "5 % errors (or more) until then"
    # nothing in flight is left, nothing new started after red
    rels = r["deployments"]["releases"]
    assert not [x for x in rels if x["outcome"] in ("canary", "rolling-out", "live")]
    assert r["deployments"]["rolled_back_by"]["budget-policy"] == len(rollbacks)
    # the budget stops falling (what moves it is the Poisson noise of the request count, ~0.1 %)
    assert r["slos"][0]["budget_remaining"] == pytest.approx(sim.slo.budget_remaining(0, t), abs=5e-3)


def test_a_recovering_budget_steps_back_with_hysteresis_and_lifts_the_actions():
    """5 % errors at 100 rps for an hour push the budget into red; then 10,000 clean rps dilute
    the error ratio and the budget, as the run measures it, recovers."""
    sim, r = _run(duration="2h", rps={"rate": {"pattern": "step", "before": 100, "after": 10000, "at": "1h"}},
                  faults=[{"at": 0, "kind": "error-rate", "service": "web", "rate": 0.05, "duration": "1h"}],
                  deployments={"per_day": 50, "bad_release_probability": 0}, policies={"budget": {}})
    levels = [a["action"] for a in r["policy_actions"] if a["action"] in ("green", "yellow", "red")]
    assert levels == ["yellow", "red", "yellow", "green"]
    back = [a for a in r["policy_actions"] if a["at"] > 3600]
    assert [a["action"] for a in back] == ["yellow", "lift-freeze", "green", "lift-gate", "alert-sensitivity"]
    up_yellow, up_green = back[0], back[2]
    assert float(re.search(r"(\d+\.\d\d)%", up_yellow["reason"]).group(1)) >= 25  # red_below + hysteresis
    assert float(re.search(r"(\d+\.\d\d)%", up_green["reason"]).group(1)) >= 55
    assert next(c for c in sim.controllers if isinstance(c, AlertEvaluator)).factor_scale == 1.0
    assert "every SLO green" in back[-1]["reason"]


def test_yellow_makes_alerting_more_sensitive():
    """A 4x burn never reaches a 6x rule; in yellow the policy halves the factors and the alert fires."""
    rules = {"rules": [{"name": "burn6", "long_window": "30m", "short_window": "5m", "burn_rate": 6}]}
    slo = {**SLO, "window": "6h"}  # 4x spends half of a 6-hour budget in 45 minutes
    common = dict(duration="70m", faults=[{"at": 0, "kind": "error-rate", "service": "web", "rate": 0.004}],
                  slos=[slo])
    _, plain = _run(**common, policies={"alerting": rules})
    _, sensitive = _run(**common, policies={"alerting": rules, "budget": {}})
    assert plain["alerts"] == []
    yellow_at = _first(sensitive, "yellow")["at"]
    assert 2700 <= yellow_at <= 2760
    [alert] = sensitive["alerts"]
    assert yellow_at <= alert["fired_at"] <= yellow_at + 60


def test_the_policy_reads_the_request_engine_the_same_way():
    """5 % errors burn a 1-day budget 50x: yellow after 864 s, red after 1382 s (per-request errors
    are random, so give or take an evaluation interval)."""
    sim, r = _run(duration="30m", rps=20, engine="request",
                  faults=[{"at": 0, "kind": "error-rate", "service": "web", "rate": 0.05}], policies={"budget": {}})
    assert r["engine"] == "request"
    assert 864 - 60 <= _first(r, "yellow")["at"] <= 864 + 120
    assert 1382 - 60 <= _first(r, "red")["at"] <= 1382 + 120
    assert _actions(r) == ["yellow", "alert-sensitivity", "red", "escalate"]
