"""The run result: the DESIGN.md contract, assertions, replication means and the JUnit report."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from scenarios.schema import Assertion
from sim.result import combine_replications, evaluate_assertions, write_junit

WEB = {"name": "one", "services": {
    "web": {"entrypoint": True, "replicas": 3, "concurrency": 8, "service_time": {"mean": "10ms"}},
    "db": {"replicas": 3, "concurrency": 8, "service_time": {"mean": "5ms"}}},
    "dependencies": [{"from": "web", "to": "db"}]}
SLOS = [{"name": "avail", "service": "web", "target": 99.9},
        {"name": "fast", "service": "web", "kind": "latency", "threshold": "100ms", "target": 99}]


@pytest.fixture(scope="module")
def result(run_sim):
    return run_sim(WEB, duration="10m", slos=SLOS, flow={"batch": 10, "tolerance": 0.01},
                   faults=[{"at": "2m", "kind": "error-rate", "service": "db", "rate": 0.05, "duration": "1m"}],
                   **{"assert": [{"slo": "avail", "min_attainment": 99}, {"service": "web", "max_error_ratio": 0.001}]}
                   ).result


def test_result_follows_the_contract(result, result_contract):
    result_contract(result)
    assert result["scenario"] == "test" and result["engine"] == "flow" and result["seed"] == 1
    assert result["replications"] == 1 and result["sim_seconds"] == 600.0
    assert [s["name"] for s in result["slos"]] == ["avail", "fast"]
    assert set(result["services"]) == {"web", "db"}
    assert [a["passed"] for a in result["assertions"]] == [True, False] and result["passed"] is False


def test_result_keys_are_exactly_the_contract(result, result_contract):
    result_contract(result, exact=True)


def _fake(slos=None, services=None) -> dict:
    return {"slos": slos or [], "services": services or {}}


def _svc(availability=1.0, **lat) -> dict:
    return {"availability": availability,
            "latency_ms": {"mean": 10.0, "p50": 8.0, "p90": 20.0, "p99": 50.0, **lat}}


@pytest.mark.parametrize("spec,passed", [
    ({"slo": "s", "min_attainment": 99.9}, True),
    ({"slo": "s", "min_attainment": 99.95}, False),
    ({"slo": "s", "min_budget_remaining": 60}, True),
    ({"slo": "s", "min_budget_remaining": 80}, False),
    ({"service": "web", "max_error_ratio": 0.002}, True),
    ({"service": "web", "max_error_ratio": 0.0005}, False),
    ({"service": "web", "max_latency": "50ms"}, True),             # p99 by default
    ({"service": "web", "max_latency": "49ms"}, False),
    ({"service": "web", "max_latency": "10ms", "percentile": "p50"}, True),
    ({"service": "web", "max_latency": "9ms", "percentile": "mean"}, False),
])
def test_assertions_against_hand_made_numbers(spec, passed):
    r = _fake([{"name": "s", "attainment": 0.9991, "budget_remaining": 0.75}], {"web": _svc(0.999)})
    [out] = evaluate_assertions([Assertion.model_validate(spec)], r)
    assert out["passed"] is passed
    assert out["name"] and out["detail"]
    # the detail says what was measured
    assert any(x in out["detail"] for x in ("99.9100", "75.00", "0.00100", "50.0ms", "8.0ms", "10.0ms"))


def test_assertion_names_default_to_a_readable_label():
    a = Assertion.model_validate({"slo": "web-availability", "min_attainment": 99.9})
    assert a.label == "web-availability attainment >= 99.9%"
    b = Assertion.model_validate({"service": "web", "max_latency": "150ms", "percentile": "p99"})
    assert b.label == "web p99 latency <= 150ms"
    c = Assertion.model_validate({"service": "web", "max_error_ratio": 0.01, "name": "few errors"})
    assert c.label == "few errors"


def test_replication_means_and_intervals():
    runs = []
    for req, avail in ((100.0, 0.99), (110.0, 0.98), (90.0, 1.0)):
        runs.append({"schema": "srelab.result/1", "scenario": "x", "engine": "flow", "seed": 1, "replications": 1,
                     "sim_seconds": 60.0, "wall_seconds": 1.0,
                     "slos": [{"name": "s", "service": "web", "kind": "availability", "target": 0.999,
                               "attainment": avail, "budget_remaining": 0.5, "max_burn_rate": 2.0}],
                     "services": {"web": {"requests": req, "errors": req * (1 - avail), "availability": avail,
                                          "latency_ms": {"mean": 1.0, "p50": 1.0, "p90": 1.0, "p99": 1.0},
                                          "replicas": {"min": 3.0, "mean": 3.0, "max": 3.0},
                                          "utilization": {"mean": 0.5, "max": 0.5}}},
                     "alerts": [], "incidents": [], "policy_actions": [], "assertions": [], "passed": True})
    out = combine_replications(runs, [Assertion.model_validate({"slo": "s", "min_attainment": 99})])
    assert out["replications"] == 3 and out["wall_seconds"] == 3.0
    assert out["services"]["web"]["requests"] == pytest.approx(100.0)
    lo, hi = out["intervals"]["services"]["web"]["requests"]
    # t(0.975, 2) = 4.303; sd = 10; half width = 4.303 * 10 / sqrt(3)
    assert (hi - lo) / 2 == pytest.approx(4.3027 * 10 / 3 ** 0.5, rel=1e-3)
    assert out["slos"][0]["attainment"] == pytest.approx(0.99)
    assert out["intervals"]["slos"]["s"]["attainment"][0] < 0.99 < out["intervals"]["slos"]["s"]["attainment"][1]
    assert out["assertions"][0]["passed"] is True  # judged on the mean, 99 %
    # an interval over three runs stays inside what the number can be: availability <= 1
    assert out["intervals"]["services"]["web"]["availability"][1] == 1.0
    assert out["intervals"]["slos"]["s"]["attainment"][1] == 1.0


def test_junit_has_one_testcase_per_assertion(result, tmp_path):
    path = tmp_path / "junit.xml"
    write_junit(result, path)
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [a["name"] for a in result["assertions"]]
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and "error ratio" in failure.get("message")
