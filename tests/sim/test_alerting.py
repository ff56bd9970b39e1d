"""Multiwindow, multi-burn-rate alerting against the SRE Workbook's worked numbers
("Alerting on SLOs"): a 99.9 % SLO over 30 days, rules 14.4 over 1 h / 5 m, 6 over 6 h / 30 m
(page) and 1 over 3 d / 6 h (ticket). Detection is quantised to the 1-minute evaluation."""

from __future__ import annotations

from scenarios.schema import WORKBOOK_RULES, BurnRateRule, Scenario
from sim.simulation import Simulation
from topology import from_dict

DAY = 86400.0
TOPO = {"name": "one", "zones": ["zone-a"], "services": {
    "web": {"entrypoint": True, "replicas": 4, "concurrency": 8, "service_time": {"mean": "5ms"}}}}


def _run(duration: str, faults: list[dict], **extra) -> Simulation:
    sc = Scenario.model_validate({
        "name": "alerting", "topology": "one", "duration": duration, "seed": 3,
        "workload": {"rate": {"pattern": "constant", "rps": 100}},
        "slos": [{"name": "avail", "service": "web", "target": 99.9, "window": "30d"}],
        "faults": faults, **extra})
    sim = Simulation(sc, topology=from_dict(TOPO))
    sim.result_ = sim.run()
    return sim


def _fired(sim, rule: str) -> list[dict]:
    return [a for a in sim.result_["alerts"] if a["rule"] == rule]


def test_factors_derive_from_budget_share_and_period():
    assert [round(r.factor(30 * DAY), 4) for r in WORKBOOK_RULES] == [14.4, 6.0, 1.0]
    assert [round(r.factor(28 * DAY), 4) for r in WORKBOOK_RULES] == [13.44, 5.6, 0.9333]
    assert BurnRateRule(name="x", long_window=3600, short_window=300, burn_rate=10).factor(28 * DAY) == 10


def test_total_outage_pages_after_2_percent_of_the_budget():
    """100 % errors: the fast page fires when 2 % of the budget is spent, 0.0144 x 1 h = 51.8 s in."""
    start = 2 * 3600.0  # the 1 h window is full of healthy traffic before the outage
    sim = _run("150m", [{"at": "2h", "kind": "error-rate", "service": "web", "rate": 1.0, "duration": "10m"}])
    [page] = _fired(sim, "page-fast")
    assert start + 51.84 <= page["fired_at"] <= start + 51.84 + 60
    assert page["severity"] == "page" and page["slo"] == "avail"
    # it resolves once the 5-minute window is clean again
    assert start + 600 <= page["resolved_at"] <= start + 600 + 300 + 60
    assert set(page) == {"rule", "slo", "severity", "fired_at", "resolved_at"}


def test_a_10x_burn_never_pages_fast_but_pages_slow_after_3_6_hours():
    """1 % errors burn the budget 10x: below 14.4, so the fast rule stays quiet; over a full 6 h
    window the slow rule (6x) needs 6 h x 6 / 10 = 3.6 h."""
    start = 6 * 3600.0
    sim = _run("10h", [{"at": "6h", "kind": "error-rate", "service": "web", "rate": 0.01}])
    assert _fired(sim, "page-fast") == []
    [slow] = _fired(sim, "page-slow")
    assert start + 3.6 * 3600 <= slow["fired_at"] <= start + 3.6 * 3600 + 60
    assert slow["resolved_at"] is None


def test_alerting_can_be_switched_off_and_rules_replaced():
    off = _run("30m", [{"at": "5m", "kind": "error-rate", "service": "web", "rate": 1.0}],
               policies={"alerting": {"enabled": False}})
    assert off.result_["alerts"] == []
    custom = _run("30m", [{"at": "5m", "kind": "error-rate", "service": "web", "rate": 1.0}],
                  policies={"alerting": {"rules": [{"name": "any", "long_window": "2m", "short_window": "1m",
                                                    "burn_rate": 100}]}})
    [a] = custom.result_["alerts"]
    assert a["rule"] == "any" and 300 < a["fired_at"] <= 300 + 120 + 60
