"""SLO accounting against hand-computed numbers."""

from __future__ import annotations

import pytest

WEB = {"name": "one", "services": {"web": {"entrypoint": True, "replicas": 3, "concurrency": 8,
                                           "service_time": {"mean": "10ms"}}}}
HOUR, WINDOW = 3600.0, 30 * 86400.0
FAST = {"batch": 10, "tolerance": 0.01}


@pytest.fixture(scope="module", params=[{"batch": 1, "tolerance": 0.01}, {"batch": 10, "tolerance": 0.01}],
                ids=["per-tick", "batched"])
def one_percent(request, run_sim):
    """1 h at 200 rps; 1 % of web's requests fail for 6 minutes (20m to 26m)."""
    return run_sim(WEB, duration="1h", flow=request.param,
                   workload={"rate": {"pattern": "constant", "rps": 200}},
                   slos=[{"name": "avail", "service": "web", "target": 99.9, "window": "30d"},
                         {"name": "fast", "service": "web", "kind": "latency", "threshold": "200ms",
                          "target": 99, "window": "30d"}],
                   faults=[{"at": "20m", "kind": "error-rate", "service": "web", "rate": 0.01, "duration": "6m"}])


def _slo(run, name):
    return next(s for s in run.result["slos"] if s["name"] == name)


def test_attainment(one_percent):
    s = _slo(one_percent, "avail")
    # 1 % errors during a tenth of the hour
    assert s["attainment"] == pytest.approx(1 - 0.01 * 0.1, rel=1e-4)
    assert 1 - s["attainment"] == pytest.approx(0.001, rel=0.02)
    assert s["target"] == pytest.approx(0.999) and s["kind"] == "availability" and s["service"] == "web"


def test_budget_remaining(one_percent):
    s = _slo(one_percent, "avail")
    # the hour used its error ratio / allowed ratio = 1x budget, for 1 h of a 30-day window
    spent = (0.001 / 0.001) * (HOUR / WINDOW)
    assert 1 - s["budget_remaining"] == pytest.approx(spent, rel=0.02)


def test_max_burn_rate(one_percent):
    s = _slo(one_percent, "avail")
    # a 5-minute window inside the 6-minute fault: 1 % errors against a 0.1 % allowance
    assert s["max_burn_rate"] == pytest.approx(0.01 / 0.001, rel=0.02)


def test_latency_slo_is_untouched_by_errors(one_percent):
    s = _slo(one_percent, "fast")
    assert s["target"] == pytest.approx(0.99) and s["kind"] == "latency"
    assert s["attainment"] > 0.999 and s["budget_remaining"] > 0.99


def test_burn_rate_of_a_short_burst_is_diluted_by_the_window(run_sim):
    """100 % errors for 1 minute: the worst 5-minute window holds 1/5 bad, burn 0.2 / 0.001 = 200."""
    run = run_sim(WEB, duration="30m", flow=FAST, workload={"rate": {"pattern": "constant", "rps": 1000}},
                  slos=[{"name": "avail", "service": "web", "target": 99.9}],
                  faults=[{"at": "10m", "kind": "error-rate", "service": "web", "rate": 1.0, "duration": "1m"}])
    s = _slo(run, "avail")
    assert s["max_burn_rate"] == pytest.approx(0.2 / 0.001, rel=0.02)
    assert s["attainment"] == pytest.approx(1 - 1 / 30, rel=1e-3)
    # budget remaining goes negative when a slice of the window overspends
    assert s["budget_remaining"] == pytest.approx(1 - (1 / 30) / 0.001 * (1800 / WINDOW), rel=1e-3)


def test_latency_slo_counts_slow_successes(run_sim):
    """Every request 300 ms slower against a 200 ms threshold: all bad while the fault lasts (a third)."""
    run = run_sim(WEB, duration="30m", flow=FAST, workload={"rate": {"pattern": "constant", "rps": 100}},
                  slos=[{"name": "fast", "service": "web", "kind": "latency", "threshold": "200ms", "target": 99}],
                  faults=[{"at": "10m", "kind": "latency", "service": "web", "delay": "300ms", "duration": "10m"}])
    s = _slo(run, "fast")
    assert 1 - s["attainment"] == pytest.approx(1 / 3, rel=0.01)
    assert s["max_burn_rate"] == pytest.approx(1 / 0.01, rel=0.01)


@pytest.mark.parametrize("fraction", [0.05, 0.5])
def test_latency_slo_counts_the_delayed_fraction(run_sim, fraction):
    """f of the requests 300 ms slower against a 200 ms threshold: f of them are bad while it lasts."""
    run = run_sim(WEB, duration="30m", flow={"batch": 10, "tolerance": 0.01},
                  workload={"rate": {"pattern": "constant", "rps": 100}},
                  slos=[{"name": "fast", "service": "web", "kind": "latency", "threshold": "200ms", "target": 99}],
                  faults=[{"at": "10m", "kind": "latency", "service": "web", "delay": "300ms", "fraction": fraction,
                           "duration": "10m"}])
    bad_during = (1 - _slo(run, "fast")["attainment"]) * 3
    assert bad_during == pytest.approx(fraction, rel=0.2)


def test_window_shorter_than_the_run_counts_the_whole_budget(run_sim):
    run = run_sim(WEB, duration="1h", flow=FAST, workload={"rate": {"pattern": "constant", "rps": 100}},
                  slos=[{"name": "avail", "service": "web", "target": 99, "window": "30m"}],
                  faults=[{"at": "0s", "kind": "error-rate", "service": "web", "rate": 0.005}])
    s = _slo(run, "avail")
    assert s["attainment"] == pytest.approx(0.995, rel=1e-4)
    assert s["budget_remaining"] == pytest.approx(0.5, rel=0.01)
