"""Workload patterns: the rate function, and the Poisson arrivals a run actually gets."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios import load
from sim.workload import RateFunction, entry_weights
from srelab.errors import ScenarioError

ONE = {"name": "one", "services": {"web": {"entrypoint": True, "replicas": 30, "concurrency": 64,
                                           "service_time": {"mean": "1ms"}}}}


def _rate(scenario, pattern) -> RateFunction:
    return RateFunction(scenario(workload={"rate": pattern}))


def test_constant(scenario):
    f = _rate(scenario, {"pattern": "constant", "rps": 80})
    assert np.all(f(np.array([0.0, 10.0, 1e6])) == 80)


def test_diurnal_peaks_at_peak_at_and_bottoms_half_a_period_later(scenario):
    f = _rate(scenario, {"pattern": "diurnal", "base": 300, "peak": 900, "period": "24h", "peak_at": "20h"})
    h = 3600.0
    assert f(np.array([20 * h]))[0] == pytest.approx(900)
    assert f(np.array([8 * h]))[0] == pytest.approx(300)
    assert f(np.array([14 * h]))[0] == pytest.approx(600)
    t = np.linspace(0, 48 * h, 1000)
    assert f(t).min() >= 300 - 1e-9 and f(t).max() <= 900 + 1e-9
    assert np.allclose(f(t), f(t + 24 * h))
    # default peak: half a period
    g = _rate(scenario, {"pattern": "diurnal", "base": 0, "peak": 10, "period": "1h"})
    assert g(np.array([1800.0]))[0] == pytest.approx(10)


def test_step(scenario):
    f = _rate(scenario, {"pattern": "step", "before": 10, "after": 50, "at": "5m"})
    assert list(f(np.array([0.0, 299.9, 300.0, 1e5]))) == [10, 10, 50, 50]


def test_spike(scenario):
    f = _rate(scenario, {"pattern": "spike", "base": 10, "peak": 100, "at": "1m", "duration": "30s"})
    assert list(f(np.array([59.9, 60.0, 89.9, 90.0]))) == [10, 100, 100, 10]


def test_stages_hold_each_rate_and_the_last_persists(scenario):
    f = _rate(scenario, {"pattern": "stages", "stages": [{"duration": "1m", "rps": 10}, {"duration": "2m", "rps": 50},
                                                         {"duration": "1m", "rps": 20}]})
    assert list(f(np.array([0.0, 59.0, 60.0, 179.0, 180.0, 239.0, 1000.0]))) == [10, 10, 50, 50, 20, 20, 20]


def _replay_file(tmp_path, rows: str, name: str = "load.csv"):
    (tmp_path / name).write_text(rows)
    (tmp_path / "sc.yaml").write_text(
        "name: replay\ntopology: online-boutique\nduration: 5m\n"
        f"workload:\n  rate: {{pattern: replay, file: {name}}}\n")
    return tmp_path / "sc.yaml"


def test_replay_interpolates_a_csv_relative_to_the_scenario(tmp_path):
    path = _replay_file(tmp_path, "t,rps\n0,100\n60,200\n120,50\n")
    f = RateFunction(load(path))
    assert list(f(np.array([0.0, 30.0, 60.0, 90.0, 120.0, 500.0]))) == [100, 150, 200, 125, 50, 50]


@pytest.mark.parametrize("rows,needle", [
    ("time,load\n0,1\n", "needs a header"),
    ("t,rps\n0,1\n5,abc\n", "numbers"),
    ("t,rps\n0,1\n0,2\n", "increase"),
    ("t,rps\n0,-1\n", "increase"),
])
def test_replay_file_problems_are_input_errors(tmp_path, rows, needle):
    path = _replay_file(tmp_path, rows)
    with pytest.raises(ScenarioError) as exc:
        RateFunction(load(path))
    assert needle in str(exc.value) and "workload.rate.file" in str(exc.value)


def test_missing_replay_file_is_an_input_error(tmp_path):
    path = _replay_file(tmp_path, "t,rps\n0,1\n")
    (tmp_path / "load.csv").unlink()
    with pytest.raises(ScenarioError, match="cannot read the replay file"):
        RateFunction(load(path))


def test_arrivals_follow_the_pattern(run_sim):
    run = run_sim(ONE, duration="6m", workload={"rate": {"pattern": "stages", "stages": [
        {"duration": "2m", "rps": 100}, {"duration": "2m", "rps": 400}, {"duration": "2m", "rps": 50}]}})
    arr = run.arrivals("web")
    for (t0, t1), rps in (((0, 120), 100), ((120, 240), 400), ((240, 360), 50)):
        got = arr[t0:t1].mean()
        assert abs(got - rps) < 4 * np.sqrt(rps / (t1 - t0)), (t0, got)
    # Poisson: the per-tick variance is the mean
    assert arr[120:240].var() == pytest.approx(400, rel=0.35)
    assert np.all(arr == np.round(arr)), "arrivals per tick are whole requests"


def test_replay_run_through_a_scenario_file(tmp_path):
    from sim import Simulation
    path = _replay_file(tmp_path, "t,rps\n0,100\n300,700\n")
    sim = Simulation(load(path))
    sim.run()
    arr = sim.recorder.arrivals[:, sim.compiled.index["frontend"]]
    assert arr[:60].mean() == pytest.approx(160, rel=0.05)   # 100 rps + 2 rps/s x 30 s
    assert arr[240:].mean() == pytest.approx(640, rel=0.05)


def test_traffic_splits_over_entry_points(scenario):
    from sim.compiled import compile_topology
    from topology import from_dict
    topo = compile_topology(from_dict({"name": "two", "services": {
        "a": {"entrypoint": True}, "b": {"entrypoint": True}, "c": {}}}))
    even = entry_weights(scenario(), topo)
    assert even[topo.index["a"]] == pytest.approx(0.5) and even[topo.index["c"]] == 0
    weighted = entry_weights(scenario(workload={"entrypoints": {"a": 3, "b": 1}}), topo)
    assert weighted[topo.index["a"]] == pytest.approx(0.75) and weighted.sum() == pytest.approx(1)
