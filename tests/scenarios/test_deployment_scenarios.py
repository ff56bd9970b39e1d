"""The built-in deployment scenarios tell their stories with a fixed seed; `srelab run` shows the
release measures and policy actions; bad `deployments` / `policies.budget` input exits 2 naming the
field and the fix."""

from __future__ import annotations

import json

import pytest

from scenarios import load
from sim import Simulation
from sim.result import strip_wall_clock


@pytest.fixture(scope="module")
def train_pair():
    out = {}
    for name in ("release-train-canary", "release-train-no-canary"):
        sim = Simulation(load(name))
        out[name] = (sim, sim.run())
    return out


def test_release_train_pair_same_releases_canary_keeps_the_budget(train_pair, result_contract):
    (_, c), (_, p) = train_pair["release-train-canary"], train_pair["release-train-no-canary"]
    result_contract(c)
    result_contract(p)
    same = lambda r: [(x["id"], x["service"], x["at"], x["bad"]) for x in r["deployments"]["releases"]]
    assert same(c) == same(p)
    dc, dp = c["deployments"], p["deployments"]
    assert dc["bad"] == dp["bad"] >= 3
    # with seed 7: 17 releases, 4 bad; the canaries roll back all 4, without them all 4 roll out
    assert dc["canary"]["caught"] == dc["bad"] and dc["degraded"] == 0 and dc["change_failure_rate"] == 0
    assert dp["degraded"] >= 3 and dp["change_failure_rate"] >= 0.2
    spent_c = 1 - c["slos"][0]["budget_remaining"]
    spent_p = 1 - p["slos"][0]["budget_remaining"]
    assert spent_c < 0.01 < 0.5 < spent_p  # measured: 0.1 % against 82.7 % of the 30-day budget
    assert c["passed"] and not p["passed"]


def test_budget_policy_freeze_goes_yellow_then_red_and_stops_the_burn():
    sim = Simulation(load("budget-policy-freeze"))
    r = sim.run()
    acts = r["policy_actions"]
    levels = [a["action"] for a in acts if a["action"] in ("green", "yellow", "red")]
    assert levels == ["yellow", "red"]
    yellow_at = next(a["at"] for a in acts if a["action"] == "yellow")
    red_at = next(a["at"] for a in acts if a["action"] == "red")
    assert {a["action"] for a in acts if a["at"] == yellow_at} == {"yellow", "deploy-gate", "alert-sensitivity"}
    assert {a["action"] for a in acts if a["at"] == red_at} == {"red", "deploy-freeze", "rollback", "escalate"}
    d = r["deployments"]
    # the gate's canaries catch the bad releases of the yellow stretch
    gated = [x for x in d["releases"] if x["started_at"] is not None and yellow_at <= x["started_at"] < red_at]
    assert gated and all(x["canary"] for x in gated) and d["canary"]["caught"] >= 1
    # red: the freeze holds every later release, the walk-back ends every live bad release
    assert d["frozen"] >= 5 and not any(x["started_at"] is not None and x["started_at"] > red_at
                                        for x in d["releases"])
    assert not [x for x in d["releases"] if x["bad"] and x["outcome"] in ("canary", "rolling-out", "live")]
    last_rollback = max(a["at"] for a in acts if a["action"] == "rollback")
    assert not any(f.kind == "bad-deploy" for f in sim.active_faults)
    rec = sim.recorder
    assert rec.errors[int(last_rollback):, :, 2].sum() == 0  # no injected errors anywhere after the walk-back
    left = r["slos"][0]["budget_remaining"]
    assert 0.0 < left < 0.2 and r["passed"]


def test_run_prints_the_release_measures_and_policy_actions(srelab, tmp_path):
    res = srelab("run", "budget-policy-freeze", "--duration", "270m", "--json", tmp_path / "r.json")
    assert res.code == 0, res.stderr
    for text in ("Deployments", "change failure rate", "canary caught", "Policy actions", "deploy-freeze",
                 "escalate", "release-started"):
        assert text in res.stdout, text
    r = json.loads((tmp_path / "r.json").read_text())
    assert set(r["deployments"]) >= {"started", "bad", "success_rate", "change_failure_rate", "canary", "releases"}
    assert r["policy_actions"] and all(set(a) == {"at", "policy", "action", "target", "reason"}
                                       for a in r["policy_actions"])


def test_replications_average_the_release_measures(srelab, tmp_path):
    res = srelab("run", "release-train-canary", "--duration", "2h", "--replications", "2",
                 "--json", tmp_path / "r.json", "-q")
    assert res.code == 0, res.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["replications"] == 2 and "deployments" in r["intervals"]
    assert "started" in r["intervals"]["deployments"]


BASE = """name: bad
topology: online-boutique
duration: 10m
"""


@pytest.mark.parametrize("body,field,fix", [
    ("deployments: {per_day: 0}", "deployments.per_day", "greater than 0"),
    ("deployments: {per_day: 10, canarie: {}}", "deployments.canarie", "unknown field"),
    ("deployments: {per_day: 10, canary: {fraction: 1.5}}", "deployments.canary.fraction", "less than 1"),
    ("deployments: {per_day: 10, bad_release_probability: 2}", "deployments.bad_release_probability",
     "less than or equal to 1"),
    ("deployments: {per_day: 10, effect: {error_rate: 0}}", "deployments.effect",
     "a bad release needs error_rate or delay above zero"),
    ("deployments: {per_day: 10, rollout: soon}", "deployments.rollout", "duration"),
    ("deployments: {per_day: 10, services: [cartservice, nope]}", "deployments.services[1]", "no service 'nope'"),
    ("policies: {budget: {yellow_below: 20, red_below: 50}}", "policies.budget",
     "red_below (50) must be below yellow_below (20)"),
    ("policies: {budget: {alert_factor_scale: 2}}", "policies.budget.alert_factor_scale", "less than or equal to 1"),
    ("policies: {budget: {freeze: true}}", "policies.budget.freeze", "unknown field"),
])
def test_bad_deployment_and_budget_input_exits_2_naming_the_field(srelab, tmp_path, body, field, fix):
    path = tmp_path / "bad.yaml"
    path.write_text(BASE + body + "\n")
    res = srelab("run", path)
    assert res.code == 2
    assert "Traceback" not in res.stderr
    assert field in res.err_text and fix in res.err_text and "bad.yaml" in res.err_text


def test_policy_and_deployments_are_deterministic():
    sc = load("budget-policy-freeze").with_overrides(duration="5h")
    a, b = Simulation(sc).run(), Simulation(sc).run()
    assert a["policy_actions"] and strip_wall_clock(a) == strip_wall_clock(b)
