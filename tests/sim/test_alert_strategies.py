"""The alerting strategies of the SRE Workbook's "Alerting on SLOs" against its worked numbers, for a
99.9 % SLO over 30 days evaluated every minute (so each time is checked within one evaluation
interval), `for` durations, and the comparison's precision and recall on runs whose answer is known."""

from __future__ import annotations

import json

import pytest

from scenarios.schema import BurnRateRule, Scenario
from sim.alertcompare import compare
from sim.simulation import Simulation
from topology import from_dict

HOUR = 3600.0
EVAL = 60.0
TOPO = {"name": "one", "zones": ["zone-a"], "services": {
    "web": {"entrypoint": True, "replicas": 4, "concurrency": 8, "service_time": {"mean": "5ms"}}}}


def _run(duration: str, faults: list[dict], rules: list[dict], engine: str = "flow", rps: float = 100) -> Simulation:
    sc = Scenario.model_validate({
        "name": "strategies", "topology": "one", "duration": duration, "seed": 5, "engine": engine,
        "workload": {"rate": {"pattern": "constant", "rps": rps}},
        "slos": [{"name": "avail", "service": "web", "target": 99.9, "window": "30d"}],
        "faults": faults, "policies": {"alerting": {"rules": rules}}})
    sim = Simulation(sc, topology=from_dict(TOPO))
    sim.run()
    return sim


def _alerts(sim, rule: str) -> list[dict]:
    return [a for a in sim.alerts if a["rule"] == rule]


def _outage(at: str, duration: str, rate: float = 1.0) -> dict:
    return {"at": at, "kind": "error-rate", "service": "web", "rate": rate, "duration": duration}


@pytest.mark.parametrize("engine", ["flow", "request"])
def test_threshold_on_the_error_rate_over_10_minutes(engine):
    """Approach 1: error ratio over 10 m >= 0.1 %. A total outage is detected in 10 m x 0.001 = 0.6 s,
    so at the first evaluation; the alert resets 10 minutes after the errors stop."""
    sim = _run("22m", [_outage("5m", "5m")], [{"name": "t10", "kind": "threshold", "window": "10m"}], engine=engine,
               rps=50 if engine == "request" else 100)
    [a] = _alerts(sim, "t10")
    assert 300 + 0.6 <= a["fired_at"] <= 300 + 0.6 + EVAL
    assert 600 + 600 <= a["resolved_at"] <= 600 + 600 + EVAL


def test_threshold_detection_scales_with_the_error_ratio():
    """At 0.5 % errors the 10-minute ratio reaches 0.1 % after 10 m x 0.1 / 0.5 = 2 minutes."""
    sim = _run("30m", [_outage("10m", "15m", rate=0.005)],
               [{"name": "t10", "kind": "threshold", "window": "10m"}])
    [a] = _alerts(sim, "t10")
    assert 600 + 120 <= a["fired_at"] <= 600 + 120 + EVAL


def test_longer_threshold_window_detects_later():
    """Approach 2: a 36-hour window at 0.1 %: a total outage needs 36 h x 0.001 = 2 min 9.6 s."""
    sim = _run("37h", [_outage("36h", "10m")], [{"name": "t36h", "kind": "threshold", "window": "36h"}])
    [a] = _alerts(sim, "t36h")
    assert 36 * HOUR + 129.6 <= a["fired_at"] <= 36 * HOUR + 129.6 + EVAL
    assert a["resolved_at"] is None  # resets only when the 36 h window is clean again


def test_for_duration_delays_firing_by_an_hour():
    """Approach 3: 0.1 % over 1 m held for 1 h: detection is the hour (plus one evaluation); a 50-minute
    outage is never reported; the reset is quick (1 m window)."""
    rule = {"name": "for1h", "kind": "threshold", "window": "1m", "for": "1h"}
    sim = _run("3h", [_outage("10m", "50m"), _outage("80m", "70m")], [rule])
    [a] = _alerts(sim, "for1h")
    start, end = 80 * 60.0, 150 * 60.0
    assert start + HOUR <= a["fired_at"] <= start + HOUR + 2 * EVAL
    assert end <= a["resolved_at"] <= end + 60 + EVAL
    assert BurnRateRule.model_validate(rule).for_ == HOUR


@pytest.mark.parametrize("factor,detect,reset", [
    (14.4, 51.84, HOUR - 51.84),   # 2 % of the budget in 1 h
    (36.0, 129.6, HOUR - 129.6),   # 5 % in 1 h, the Workbook's approach 4 ("reset time: 58 minutes")
])
def test_single_burn_rate_window_of_an_hour(factor, detect, reset):
    """Approach 4: one 1-hour window at burn rate F: a total outage is detected after 1 h x F x 0.001;
    after a long outage the window must drain to F x 0.1 %: 1 h - detection time."""
    sim = _run("190m", [_outage("1h", "65m")],
               [{"name": "one", "kind": "single-window", "window": "1h", "burn_rate": factor}])
    [a] = _alerts(sim, "one")
    assert HOUR + detect <= a["fired_at"] <= HOUR + detect + EVAL
    end = HOUR + 65 * 60
    assert end + reset <= a["resolved_at"] <= end + reset + EVAL
    assert round(reset / 60) == round((HOUR - detect) / 60)


def test_single_window_detection_time_at_a_lower_error_ratio():
    """2 % errors against 14.4 x 0.1 %: the 1-hour window needs 1 h x 1.44 % / 2 % = 43.2 minutes."""
    sim = _run("2h", [_outage("1h", "1h", rate=0.02)],
               [{"name": "one", "kind": "single-window", "window": "1h", "budget_share": 0.02}])
    [a] = _alerts(sim, "one")
    assert HOUR + 43.2 * 60 <= a["fired_at"] <= HOUR + 43.2 * 60 + EVAL


@pytest.mark.parametrize("rule,message", [
    ({"long_window": "1h", "burn_rate": 14.4}, "needs long_window and short_window"),
    ({"kind": "single-window", "long_window": "1h", "short_window": "5m", "burn_rate": 14.4}, "takes one window"),
    ({"kind": "threshold", "window": "10m", "burn_rate": 2}, "takes error_ratio"),
    ({"kind": "single-window", "window": "1h", "error_ratio": 0.01}, "error_ratio goes with kind: threshold"),
    ({"kind": "single-window", "window": "1h"}, "give budget_share"),
])
def test_rule_shapes_are_checked(rule, message):
    with pytest.raises(ValueError, match=message):
        BurnRateRule.model_validate({"name": "r", **rule})


KNOWN_RULES = [{"name": "t10", "kind": "threshold", "window": "10m"},
               {"name": "page-fast", "long_window": "1h", "short_window": "5m", "budget_share": 0.02}]


@pytest.fixture(scope="module")
def known():
    """Two blips of 2 % errors for 3 minutes (0.14 % of the budget each) and a 10-minute total
    outage (23 %): the threshold rule pages three times, the multiwindow rule once."""
    sim = _run("3h", [_outage("30m", "3m", 0.02), _outage("60m", "3m", 0.02), _outage("100m", "10m")],
               KNOWN_RULES)
    return compare(sim)


def test_ground_truth_events_and_their_budget(known):
    evs = known["events"]
    assert [(e["start"], e["end"], e["significant"]) for e in evs] == [
        (1800.0, 1980.0, False), (3600.0, 3780.0, False), (6000.0, 6600.0, True)]
    assert evs[2]["budget_spent"] == pytest.approx(600 / (0.001 * 30 * 86400), rel=0.01)
    assert evs[0]["budget_spent"] == pytest.approx(0.02 * 180 / (0.001 * 30 * 86400), rel=0.05)


def test_precision_and_recall_of_each_rule(known):
    rows = {r["rule"]: r for r in known["rules"]}
    t10, fast = rows["t10"], rows["page-fast"]
    assert (t10["alerts"], t10["true_alerts"], t10["recall"]) == (3, 1, 1.0)
    assert t10["precision"] == pytest.approx(1 / 3)
    assert (fast["alerts"], fast["precision"], fast["recall"]) == (1, 1.0, 1.0)
    assert 51.84 <= fast["detection_time"] <= 51.84 + EVAL
    assert t10["detection_time"] <= EVAL
    assert 600 <= t10["reset_time"] <= 600 + EVAL
    assert 300 <= fast["reset_time"] <= 300 + EVAL  # the 5-minute window clears first


def test_significance_threshold_changes_the_answer(known):
    sim = _run("3h", [_outage("30m", "3m", 0.02), _outage("60m", "3m", 0.02), _outage("100m", "10m")], KNOWN_RULES)
    assert compare(sim) == known, "the same scenario and seed give the same comparison"
    everything = compare(sim, significance=0.001)
    rows = {r["rule"]: r for r in everything["rules"]}
    assert rows["t10"]["precision"] == 1.0 and rows["t10"]["recall"] == 1.0
    assert rows["page-fast"]["recall"] == pytest.approx(1 / 3)


def test_alerts_compare_on_the_builtin_scenario(srelab):
    """The built-in trade-off: the threshold rule pages on every blip, the single 1-hour window misses
    the slow burn and resets an hour after the outage, the multiwindow rules catch both."""
    r = srelab("alerts", "compare", "alerting-strategies", "--json")
    assert r.code == 0, r.stderr
    c = json.loads(r.stdout)
    assert [e["significant"] for e in c["events"]] == [True, False, False, False, True]
    rows = {x["rule"]: x for x in c["rules"]}
    assert rows["threshold-10m"]["alerts"] == 5 and rows["threshold-10m"]["precision"] == pytest.approx(0.4)
    assert rows["threshold-10m"]["recall"] == 1.0
    assert rows["single-window-1h"]["recall"] == 0.5
    assert rows["single-window-1h"]["reset_time"] == pytest.approx(HOUR - 51.84, abs=EVAL)
    assert rows["page-fast"]["reset_time"] <= 300 + EVAL
    assert rows["threshold-1m-for-1h"]["recall"] == 0.5
    assert rows["threshold-1m-for-1h"]["detection_time"] >= HOUR
    assert rows["page-slow"]["recall"] == 1.0 and rows["ticket"]["recall"] == 1.0
    table = srelab("alerts", "compare", "alerting-strategies", "--duration", "2h")
    assert table.code == 0 and "threshold-10m" in table.stdout and "precision" in table.stdout


def test_bad_slo_and_rule_specs_exit_2_naming_the_field(tmp_path, srelab):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ntopology: online-boutique\n"
                    "slos:\n  - {name: a, service: frontend, target: 99.9, budgeting: timeslices}\n"
                    "policies:\n  alerting:\n    rules:\n      - {name: r, kind: threshold, window: 10m, burn_rate: 3}\n")
    for args in (("run", path), ("alerts", "compare", path)):
        r = srelab(*args)
        assert r.code == 2 and "Traceback" not in r.stderr
        assert "slos[0]" in r.err_text and "timeslice_window" in r.err_text
        assert "policies.alerting.rules[0]" in r.err_text and "takes error_ratio" in r.err_text
