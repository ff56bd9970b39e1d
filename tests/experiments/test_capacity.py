"""Capacity planning: forecast accuracy, the sizing arithmetic, and a plan that holds its
verification run where the current sizing fails."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from experiments.capacity import HOURS_PER_MONTH, WEEK, forecast, mase, smape


def seasonal_series(weeks: int = 10, growth: float = 0.04, noise: float = 0.03, seed: int = 1) -> np.ndarray:
    """Hourly demand with known daily and weekly seasonality and monthly growth."""
    h = np.arange(weeks * WEEK)
    daily = 1 + 0.6 * np.cos(2 * np.pi * (h % 24 - 20) / 24)
    weekly = np.where((h // 24) % 7 >= 5, 0.8, 1.0)
    trend = (1 + growth) ** (h / HOURS_PER_MONTH)
    rng = np.random.default_rng(seed)
    return 1000 * daily * weekly * trend * rng.lognormal(0, noise, h.size)


def test_error_measures_on_hand_computed_cases():
    assert smape(np.array([100.0, 200.0]), np.array([110.0, 180.0])) == pytest.approx(
        100 * (20 / 210 + 40 / 380) / 2)
    train = np.array([1.0, 2.0, 3.0, 2.0, 3.0, 4.0])        # seasonal-naive errors (m=3): 1, 1, 1
    assert mase(np.array([5.0, 5.0]), np.array([4.0, 7.0]), train, season=3) == pytest.approx(1.5)


def test_forecast_beats_seasonal_naive_on_a_series_with_known_seasonality():
    y = seasonal_series()
    fc = forecast(y[:-4 * WEEK], horizon_hours=4 * WEEK)
    assert fc["mase"] < 1.0 and fc["smape"] < 5.0
    # four weeks ahead the forecast peak is within 5 % of the true one (growth included)
    truth = y[-4 * WEEK:]
    clean = seasonal_series(noise=0.0)[-4 * WEEK:]
    assert abs(fc["peak"] - clean.max()) / clean.max() < 0.05
    assert np.mean(np.abs(fc["forecast"] - truth) / truth) < 0.06


def test_forecast_of_noise_without_seasonality_is_no_better_than_naive():
    rng = np.random.default_rng(3)
    y = 1000 * rng.lognormal(0, 0.3, 8 * WEEK)
    assert forecast(y, 24)["mase"] > 0.6


@pytest.fixture(scope="module")
def plan():
    """``srelab capacity plan diurnal-peak --growth 0.05 --json``: (exit code, plan)."""
    from click.testing import CliRunner

    from srelab.cli import main
    with CliRunner().isolation() as (out, _, _):
        with pytest.raises(SystemExit) as exc:
            main(["capacity", "plan", "diurnal-peak", "--growth", "0.05", "--json"])
        sys.stdout.flush()
        text = out.getvalue().decode()
    return exc.value.code, json.loads(text)


def test_plan_holds_its_verification_where_the_current_sizing_fails(plan):
    code, d = plan
    v = d["verification"]
    assert code == 0
    assert v["current"]["zone_lost"] == v["planned"]["zone_lost"] == "zone-a"
    assert not v["current"]["passed"] and v["planned"]["passed"]
    assert all(s["attainment"] >= s["target"] for s in v["planned"]["slos"])
    # 5 % a month for 6 months over the last week's peak of about 2,400 rps: about 1.34x
    fe = d["entrypoints"]["frontend"]
    assert 1.2 < fe["peak_rps"] / fe["last_week_peak_rps"] < 1.45
    assert fe["mase"] < 1.0 and fe["smape"] < 5.0


def test_plan_arithmetic(plan):
    from topology import resolve
    _, d = plan
    zones = 3
    fleet = resolve("online-boutique")
    for name, s in d["services"].items():
        per_zone = math.ceil(s["needed"] / (zones - 1))
        assert s["planned"] == per_zone * zones, name                    # N+1 zones
        assert s["over_provisioning"] == pytest.approx(s["planned"] / s["needed"] - 1)
        assert s["cost_per_month"] == pytest.approx(
            s["planned"] * fleet.services[name].cost_per_replica_hour * HOURS_PER_MONTH)
        # the same busy replicas over all replicas, and over those left with one zone lost
        assert s["utilization_at_peak"] * s["planned"] == pytest.approx(
            s["utilization_zone_lost"] * (s["planned"] - per_zone))
        assert s["utilization_zone_lost"] <= d["target_utilization"] + 1e-9   # the plan's guarantee
    tot = d["totals"]
    assert tot["planned_cost_per_month"] == pytest.approx(sum(s["cost_per_month"] for s in d["services"].values()))
    # the single Redis replica is a single point of failure: planned in every zone
    assert d["services"]["redis-cart"]["current"] == 1 and d["services"]["redis-cart"]["planned"] == 3


def test_history_csv_drives_the_forecast(srelab, tmp_path):
    y = seasonal_series(weeks=6, growth=0.0)
    p = tmp_path / "history.csv"
    p.write_text("t,frontend\n" + "".join(f"{i * 3600},{v:.3f}\n" for i, v in enumerate(y)))
    r = srelab("capacity", "plan", "diurnal-peak", "--history", str(p), "--horizon", "30d", "--no-verify", "--json")
    assert r.code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["horizon_days"] == 30
    assert abs(d["entrypoints"]["frontend"]["peak_rps"] - y.max()) / y.max() < 0.1


def test_bad_history_and_horizon_are_clear_errors(srelab, tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("time,value\n0,1\n")
    r = srelab("capacity", "plan", "diurnal-peak", "--history", str(p), "--no-verify")
    assert r.code == 2 and "needs a header with t and either rps" in r.err_text and "h.csv" in r.err_text
    p.write_text("t,rps\n" + "".join(f"{i * 60},{100}\n" for i in range(600)))
    r = srelab("capacity", "plan", "diurnal-peak", "--history", str(p), "--no-verify")
    assert r.code == 2 and "hourly" in r.err_text
    p.write_text("t,rps\n" + "".join(f"{i * 3600},0\n" for i in range(5 * WEEK)))
    r = srelab("capacity", "plan", "diurnal-peak", "--history", str(p), "--no-verify")
    assert r.code == 2 and "every rate is zero" in r.err_text
    r = srelab("capacity", "plan", "diurnal-peak", "--horizon", "soon")
    assert r.code == 2 and "--horizon" in r.err_text


def test_bom_short_and_non_finite_histories(srelab, tmp_path):
    y = seasonal_series(weeks=5, growth=0.0)
    p = tmp_path / "excel.csv"
    p.write_bytes(("\ufefft,rps\n" + "".join(f"{i * 3600},{v:.3f}\n" for i, v in enumerate(y))).encode("utf-8"))
    assert srelab("capacity", "plan", "diurnal-peak", "--history", str(p), "--no-verify").code == 0
    p.write_text("t,rps\n" + "".join(f"{i * 3600},{v:.3f}\n" for i, v in enumerate(y[:3 * WEEK])))
    r = srelab("capacity", "plan", "diurnal-peak", "--history", str(p), "--no-verify")
    assert r.code == 2 and "at least 4 weeks" in r.err_text
    p.write_text("t,rps\n" + "".join(f"{i * 3600},{'nan' if i == 9 else v}\n" for i, v in enumerate(y)))
    r = srelab("capacity", "plan", "diurnal-peak", "--history", str(p), "--no-verify")
    assert r.code == 2 and "finite" in r.err_text


def test_the_plan_sizes_for_the_forecast_entry_mix(tmp_path):
    """The scenario splits traffic 50/50 over two entry points, the history 90/10: the service
    behind ``a`` is sized for a's forecast, not for half the total."""
    from experiments.capacity import plan_capacity
    from scenarios.schema import Scenario
    from topology import from_dict

    topo = from_dict({"name": "two", "zones": ["zone-a", "zone-b"], "services": {
        "a": {"entrypoint": True, "replicas": {"zone-a": 2, "zone-b": 2}, "concurrency": 4,
              "service_time": {"mean": "10ms"}},
        "b": {"entrypoint": True, "replicas": {"zone-a": 2, "zone-b": 2}, "concurrency": 4,
              "service_time": {"mean": "10ms"}},
        "db": {"replicas": {"zone-a": 2, "zone-b": 2}, "concurrency": 4, "service_time": {"mean": "10ms"}}},
        "dependencies": [{"from": "a", "to": "db", "calls": 1.0, "mode": "sequential", "criticality": "hard"}]})
    sc = Scenario.model_validate({"name": "mix", "topology": "inline", "duration": "10m",
                                  "workload": {"rate": {"pattern": "constant", "rps": 200},
                                               "entrypoints": {"a": 0.5, "b": 0.5}}})
    h = np.arange(6 * WEEK)
    shape = 1 + 0.3 * np.sin(2 * np.pi * h / 24)
    p = tmp_path / "mix.csv"
    p.write_text("t,a,b\n" + "".join(f"{i * 3600},{900 * v:.3f},{100 * v:.3f}\n" for i, v in enumerate(shape)))
    plan = plan_capacity(sc, topo, history=p, horizon_days=7, verify=False)
    a_peak = plan.entries["a"]["peak_rps"]
    assert a_peak == pytest.approx(1170, rel=0.02)
    assert plan.services["db"]["peak_rps"] == pytest.approx(a_peak, rel=0.02)
    assert plan.services["b"]["peak_rps"] == pytest.approx(plan.entries["b"]["peak_rps"], rel=0.02)
    # 1170 rps at 60 % of 400 rps per replica: 5 replicas, 5 per zone to survive the other's loss
    assert plan.services["db"]["needed"] == 5 and plan.services["db"]["planned"] == 10
