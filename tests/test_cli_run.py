"""`srelab run` end to end through the entry point: exit codes, --json, --junit, --out, --quiet,
--duration, --seed, --replications/--workers, and Ctrl-C."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import yaml

SCENARIO = {
    "name": "cli-run",
    "topology": "online-boutique",
    "duration": "10m",
    "seed": 42,
    "workload": {"rate": {"pattern": "constant", "rps": 200}},
    "slos": [{"name": "fe-availability", "service": "frontend", "target": 99.9},
             {"name": "fe-latency", "service": "frontend", "kind": "latency", "threshold": "300ms", "target": 99}],
    "faults": [{"at": "2m", "kind": "error-rate", "service": "cartservice", "rate": 0.5, "duration": "1m"}],
    "assert": [{"slo": "fe-latency", "min_attainment": 99},
               {"service": "frontend", "max_latency": "1s", "percentile": "p99"}],
}
FAILING = [{"slo": "fe-availability", "min_attainment": 99.99, "name": "five nines-ish"}]
NPZ_KEYS = {"services", "causes", "interval", "time", "arrivals", "successes", "errors", "latency", "utilization",
            "replicas"}


def _write(path, data):
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def passing(tmp_path):
    return _write(tmp_path / "passing.yaml", SCENARIO)


@pytest.fixture
def failing(tmp_path):
    return _write(tmp_path / "failing.yaml", {**SCENARIO, "assert": SCENARIO["assert"] + FAILING})


def _result(path):
    return json.loads(path.read_text())


def _canon(r: dict) -> str:
    return json.dumps({k: v for k, v in r.items() if k != "wall_seconds"}, sort_keys=True)


def test_exit_0_when_every_assertion_holds(srelab, passing):
    res = srelab("run", passing)
    assert res.code == 0, res.stderr
    assert "verdict: PASSED" in res.stdout
    assert "Traceback" not in res.stderr


def test_exit_1_when_an_assertion_fails(srelab, failing, tmp_path):
    res = srelab("run", failing, "--json", tmp_path / "r.json")
    assert res.code == 1, res.stderr
    assert "FAILED" in res.stdout and "five nines-ish" in res.stdout
    r = _result(tmp_path / "r.json")
    assert r["passed"] is False
    assert [a["passed"] for a in r["assertions"]] == [True, True, False]


def test_summary_tells_what_happened(srelab, passing):
    out = " ".join(srelab("run", passing).stdout.split())
    for needle in ("cli-run", "fe-availability", "fe-latency", "fault-injected", "error-rate:cartservice",
                   "fault-reverted", "0:02:00", "PASS"):
        assert needle in out, needle


def test_json_writes_the_contract(srelab, passing, tmp_path, result_contract):
    out = tmp_path / "deep" / "r.json"
    assert srelab("run", passing, "--json", out).code == 0
    r = _result(out)
    result_contract(r)
    assert r["scenario"] == "cli-run" and r["seed"] == 42 and r["sim_seconds"] == 600.0
    assert r["replications"] == 1 and r["engine"] == "flow"
    assert [s["name"] for s in r["slos"]] == ["fe-availability", "fe-latency"]
    fa = r["slos"][0]
    # 50 % of the cart's requests fail for 1 of 10 minutes, and the frontend depends on it
    assert fa["attainment"] < 0.999 and fa["max_burn_rate"] > 1


def test_junit_one_testcase_per_assertion(srelab, failing, tmp_path):
    out = tmp_path / "junit.xml"
    assert srelab("run", failing, "--junit", out).code == 1
    root = ET.parse(out).getroot()
    cases = list(root.iter("testcase"))
    assert len(cases) == 3
    assert [c.get("name") for c in cases][-1] == "five nines-ish"
    failures = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failures] == ["five nines-ish"]
    assert "attainment" in failures[0].find("failure").get("message")
    suite = root.find("testsuite") if root.tag == "testsuites" else root
    assert suite.get("tests") == "3" and suite.get("failures") == "1"


def test_out_writes_result_series_and_scenario(srelab, passing, tmp_path):
    out = tmp_path / "run1"
    assert srelab("run", passing, "--out", out, "--quiet").code == 0
    assert {p.name for p in out.iterdir()} >= {"result.json", "series.npz", "scenario.yaml"}
    r = _result(out / "result.json")
    with np.load(out / "series.npz") as z:
        assert NPZ_KEYS <= set(z.files)
        names, causes = list(z["services"]), list(z["causes"])
        S, n = z["arrivals"].shape
        assert set(names) == set(r["services"]) and len(names) == len(set(names))
        assert causes == ["unavailable", "overload", "injected", "timeout", "dependency", "circuit_open"]
        assert float(z["interval"]) == 1.0 and S == 600 and n == len(names)
        assert np.allclose(z["time"], np.arange(S) * 1.0)
        assert z["errors"].shape == (S, n, len(causes))
        assert z["latency"].shape == (S, n, 4)
        assert z["utilization"].shape == z["replicas"].shape == z["successes"].shape == (S, n)
        assert np.allclose(z["arrivals"], z["successes"] + z["errors"].sum(axis=2), atol=1e-2)
        # the series add up to the result
        for i, name in enumerate(names):
            assert r["services"][name]["requests"] == pytest.approx(float(z["arrivals"][:, i].sum()), rel=1e-5)
        cart = names.index("cartservice")
        inj = z["errors"][:, cart, causes.index("injected")]
        assert inj[:120].sum() == 0 and inj[121:180].sum() > 0 and inj[181:].sum() == 0
    sc = yaml.safe_load((out / "scenario.yaml").read_text())
    assert sc["name"] == "cli-run" and sc["topology"] == "online-boutique"
    # the run folder's scenario is itself a valid scenario
    assert srelab("scenarios", "validate", out / "scenario.yaml").code == 0


def test_out_scenario_reruns_to_the_same_result(srelab, passing, tmp_path):
    out = tmp_path / "run1"
    assert srelab("run", passing, "--out", out, "--quiet").code == 0
    assert srelab("run", out / "scenario.yaml", "--json", tmp_path / "again.json", "--quiet").code == 0
    assert _canon(_result(tmp_path / "again.json")) == _canon(_result(out / "result.json"))


def test_out_scenario_records_the_seed_override(srelab, passing, tmp_path):
    out = tmp_path / "run1"
    assert srelab("run", passing, "--out", out, "--seed", "5", "--quiet").code == 0
    assert srelab("run", out / "scenario.yaml", "--json", tmp_path / "again.json", "--quiet").code == 0
    assert _canon(_result(tmp_path / "again.json")) == _canon(_result(out / "result.json"))


def test_out_scenario_with_a_relative_topology_reruns(srelab, tmp_path):
    import shutil
    from importlib import resources
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(str(resources.files("topology") / "catalog" / "online-boutique.yaml"), src / "shop.yaml")
    path = _write(src / "sc.yaml", {**SCENARIO, "topology": "shop.yaml"})
    out = tmp_path / "run1"
    assert srelab("run", path, "--out", out, "--quiet").code == 0
    res = srelab("run", out / "scenario.yaml", "--json", tmp_path / "again.json", "--quiet")
    assert res.code == 0, res.err_text


def test_out_with_replications_writes_series(srelab, passing, tmp_path):
    out = tmp_path / "reps"
    res = srelab("run", passing, "--out", out, "--replications", "2", "--duration", "2m", "--quiet")
    assert res.code == 0
    assert (out / "result.json").exists() and (out / "scenario.yaml").exists()
    assert (out / "series.npz").exists() or "series" in res.err_text


def test_quiet_prints_one_verdict_line(srelab, passing, failing):
    res = srelab("run", passing, "--quiet")
    assert res.code == 0
    assert res.stdout.strip().splitlines() == ["cli-run: PASSED (2/2 assertions held)"]
    assert res.stderr == ""
    res = srelab("run", failing, "-q")
    assert res.code == 1
    assert res.stdout.strip().splitlines() == ["cli-run: FAILED (2/3 assertions held)"]


def test_duration_override(srelab, passing, tmp_path):
    assert srelab("run", passing, "--duration", "2m", "--json", tmp_path / "r.json", "-q").code == 0
    r = _result(tmp_path / "r.json")
    assert r["sim_seconds"] == 120.0
    assert r["services"]["frontend"]["requests"] == pytest.approx(200 * 120, rel=0.05)


def test_seed_option(srelab, passing, tmp_path):
    for i, seed in enumerate(("7", "7", "8")):
        assert srelab("run", passing, "--seed", seed, "--duration", "2m", "--json", tmp_path / f"{i}.json",
                      "-q").code == 0
    a, b, c = (_result(tmp_path / f"{i}.json") for i in range(3))
    assert a["seed"] == 7 and c["seed"] == 8
    assert _canon(a) == _canon(b)
    assert a["services"]["frontend"]["requests"] != c["services"]["frontend"]["requests"]


def test_builtin_name_runs(srelab, tmp_path):
    res = srelab("run", "steady-state", "--duration", "2m", "--json", tmp_path / "r.json", "-q")
    assert res.code == 0
    assert _result(tmp_path / "r.json")["scenario"] == "steady-state"


def test_replications_same_result_with_one_or_two_workers(srelab, failing, tmp_path):
    args = ("run", failing, "--duration", "3m", "--replications", "4", "-q")
    r1 = srelab(*args, "--workers", "1", "--json", tmp_path / "w1.json")
    r2 = srelab(*args, "--workers", "2", "--json", tmp_path / "w2.json")
    assert r1.code == r2.code == 1
    a, b = _result(tmp_path / "w1.json"), _result(tmp_path / "w2.json")
    assert _canon(a) == _canon(b)
    assert a["replications"] == 4 and "intervals" in a
    lo, hi = a["intervals"]["services"]["frontend"]["requests"]
    assert lo < a["services"]["frontend"]["requests"] < hi
    assert set(a["intervals"]["slos"]) == {"fe-availability", "fe-latency"}


def test_request_engine_runs_from_the_cli(srelab, passing, tmp_path):
    res = srelab("run", passing, "--engine", "request", "--duration", "1m", "--json", tmp_path / "r.json", "-q")
    assert res.code == 0, res.stderr
    r = _result(tmp_path / "r.json")
    assert r["engine"] == "request" and r["services"]["frontend"]["requests"] == pytest.approx(200 * 60, rel=0.1)


def test_unknown_engine_is_a_usage_error(srelab, passing):
    res = srelab("run", passing, "--engine", "warp")
    assert res.code == 2 and "warp" in res.err_text


def test_ctrl_c_exits_130(srelab, passing, monkeypatch):
    import sim.simulation

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.simulation.Simulation, "run", interrupted)
    res = srelab("run", passing, "-q")
    assert res.code == 130
    assert "interrupted" in res.err_text and "Traceback" not in res.stderr


def test_unwritable_outputs_fail_before_the_run_with_exit_2(srelab, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder\n")
    r = srelab("run", "steady-state", "--duration", "5m", "--json", blocker / "result.json")
    assert r.code == 2 and "--json" in r.err_text and "is a file" in r.err_text
    assert "Traceback" not in r.stderr
    r = srelab("run", "steady-state", "--duration", "5m", "--out", tmp_path / "run", "--junit", blocker / "j.xml")
    assert r.code == 2 and "--junit" in r.err_text
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())   # nothing half-done


def test_json_dash_prints_the_result(srelab):
    import json
    r = srelab("run", "steady-state", "--duration", "5m", "--json", "-")
    assert r.code == 0 and json.loads(r.stdout)["scenario"] == "steady-state"
