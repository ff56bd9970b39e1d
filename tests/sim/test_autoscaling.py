"""The HPA's arithmetic against the Kubernetes documentation's worked examples, and the
autoscalers in a running simulation (start-up delay, zone spread, the comparison scenario)."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.schema import Autoscaling
from sim.autoscaling import HPAlgorithm

SYNC = 15.0


def hpa(**spec) -> HPAlgorithm:
    spec.setdefault("target_utilization", 0.5)
    return HPAlgorithm(Autoscaling(kind="hpa", **spec), services=1)


def propose(alg: HPAlgorithm, current: float, usage: float, ready: float | None = None,
            unready: float = 0, missing: float = 0, target: float = 0.5) -> float:
    a = lambda x: np.array([float(x)])  # noqa: E731
    ready = current - unready - missing if ready is None else ready
    return float(alg.proposal(a(current), a(ready), a(unready), a(missing), a(usage), target, 1.0)[0])


def step(alg: HPAlgorithm, now: float, current: float, desired: float) -> float:
    new = alg.normalize(now, np.array([float(current)]), np.array([float(desired)]))
    alg.record(now, np.array([float(current)]), new)
    return float(new[0])


def replay(alg: HPAlgorithm, start: float, desired: float, syncs: int) -> list[float]:
    """Counts after each sync with a constant desired count."""
    counts, current = [], start
    for k in range(syncs):
        current = step(alg, k * SYNC, current, desired)
        counts.append(current)
    return counts


# -- the algorithm (kubernetes.io "Horizontal Pod Autoscaling", "Algorithm details") --------------

def test_doubling_and_halving_follow_the_metric_ratio():
    alg = hpa()
    assert propose(alg, 4, usage=1.0) == 8      # 200m against 100m: double
    assert propose(alg, 4, usage=0.25) == 2     # 50m against 100m: halve
    assert propose(alg, 3, usage=0.6) == 4      # ceil(3 x 1.2)


def test_no_change_within_tolerance():
    alg = hpa()
    assert propose(alg, 10, usage=0.5 * 1.09) == 10
    assert propose(alg, 10, usage=0.5 * 0.91) == 10
    assert propose(alg, 10, usage=0.5 * 1.11) == 12
    assert propose(hpa(tolerance=0.2), 10, usage=0.5 * 1.15) == 10


def test_missing_metrics_count_as_target_on_scale_down_and_zero_on_scale_up():
    alg = hpa()
    # 4 ready pods at half the target: alone they would halve to 2; 2 pods without metrics are
    # taken at 100 % on a scale-down: (4 x 0.25 + 2 x 1.0) / (6 x 0.5) = 1.0, within tolerance
    assert propose(alg, 6, usage=0.25, missing=2) == 6
    # on a scale-up they count as 0 %: 4 x 1.0 / (6 x 0.5) = 1.33 -> ceil(1.33 x 6) = 8
    assert propose(alg, 6, usage=1.0, missing=2) == 8


def test_unready_pods_damp_a_scale_up_and_a_direction_flip_keeps_the_count():
    alg = hpa()
    # 2 ready at 2x the target, 2 still starting (0 %): 2 x 1.0 / (4 x 0.5) = 1.0 -> keep 4
    assert propose(alg, 4, usage=1.0, unready=2) == 4
    # 2 ready at 3x, 2 starting: 1.5 -> ceil(1.5 x 4) = 6
    assert propose(alg, 4, usage=1.5, unready=2) == 6
    # unready pods are left out of a scale-down
    assert propose(alg, 4, usage=0.125, unready=2) == 1


def test_no_ready_pod_with_metrics_means_no_decision():
    assert propose(hpa(), 3, usage=0.0, ready=0, missing=3) == 3


def test_scale_down_from_80_with_pods_and_percent_policies():
    """The documentation's example: Pods 4 and Percent 10 per 60 s. Above 40 replicas the
    percent policy removes more (80 -> 72 -> 64, 10 % of 72 is 7.2, rounded up to 8 removed);
    below 40 the pods policy does. One step per 60 s period."""
    alg = hpa(min=1, behavior={"scale_down": {"stabilization_window": 0, "policies": [
        {"type": "Pods", "value": 4, "period": "60s"}, {"type": "Percent", "value": 10, "period": "60s"}]}})
    counts = replay(alg, 80, desired=10, syncs=4 * 16)
    per_period = counts[::4]
    assert per_period == [72, 64, 57, 51, 45, 40, 36, 32, 28, 24, 20, 16, 12, 10, 10, 10]
    assert counts[1:4] == [72, 72, 72]  # nothing more within the 60 s period


def test_select_policy_min_takes_the_smaller_change():
    alg = hpa(min=1, behavior={"scale_down": {"stabilization_window": 0, "select_policy": "Min", "policies": [
        {"type": "Pods", "value": 4, "period": "60s"}, {"type": "Percent", "value": 10, "period": "60s"}]}})
    assert replay(alg, 80, desired=10, syncs=9)[::4] == [76, 72, 68]


def test_disabled_scale_down_never_removes_replicas():
    alg = hpa(behavior={"scale_down": {"select_policy": "Disabled"}})
    assert set(replay(alg, 20, desired=2, syncs=40)) == {20}


def test_default_scale_up_is_4_pods_or_100_percent_per_15s():
    alg = hpa(max=100)
    assert replay(alg, 1, desired=60, syncs=5) == [5, 10, 20, 40, 60]


def test_scale_up_policy_limits_over_its_period():
    alg = hpa(max=100, behavior={"scale_up": {"policies": [{"type": "Pods", "value": 2, "period": "60s"}]}})
    assert replay(alg, 4, desired=20, syncs=9) == [6, 6, 6, 6, 8, 8, 8, 8, 10]


def test_scale_down_stabilization_window_keeps_the_highest_recommendation():
    """Default: 300 s. A brief dip does not scale in; a lasting one does after the window."""
    alg = hpa()
    assert step(alg, 0, 10, 10) == 10
    counts = [step(alg, SYNC * k, 10, 4) for k in range(1, 20)]   # 15 s .. 285 s after the last 10
    assert set(counts) == {10}
    assert step(alg, 300.0 + SYNC, 10, 4) == 4


def test_a_new_hpa_does_not_scale_in_before_its_window():
    alg = hpa()
    counts = replay(alg, 10, desired=3, syncs=21)
    assert counts[:20] == [10] * 20 and counts[20] == 3


def test_scale_up_stabilization_takes_the_lowest_recommendation():
    alg = hpa(behavior={"scale_up": {"stabilization_window": "60s"}})
    assert step(alg, 0, 4, 4) == 4
    assert step(alg, 15, 4, 12) == 4            # the 4 of 15 s ago is within the window
    assert step(alg, 30, 4, 12) == 4
    assert step(alg, 75, 4, 12) == 8            # only 12s since 60 s: up by the default 100 %


def test_min_and_max_bound_the_count():
    alg = hpa(min=3, max=7)
    assert step(alg, 0, 5, 50) == 7
    assert step(alg, 15, 2, 2) == 3             # below min: brought up whatever the metric
    assert step(alg, 30, 9, 9) == 7             # above max: brought down


def test_scaling_spec_errors_are_clear(srelab, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntopology: online-boutique\npolicies:\n  autoscaling: {kind: hpa, min: 5, max: 2, "
                   "target_utilization: 0.6}\n")
    r = srelab("scenarios", "validate", str(bad))
    assert r.code == 2 and "min (5) is above max (2)" in r.err_text and "policies.autoscaling" in r.err_text
    bad.write_text("name: x\ntopology: online-boutique\npolicies:\n  autoscaling: {kind: hpa}\n")
    r = srelab("scenarios", "validate", str(bad))
    assert r.code == 2 and "target_utilization" in r.err_text
    bad.write_text("name: x\ntopology: online-boutique\npolicies:\n  autoscaling: {target_utilization: 0.6, "
                   "services: [frontend, nosuch]}\n")
    r = srelab("scenarios", "validate", str(bad))
    assert r.code == 2 and "nosuch" in r.err_text and "policies.autoscaling.services[1]" in r.err_text


# -- in a simulation --------------------------------------------------------------------------

def _step_scenario(**autoscaling):
    spec = {"kind": "hpa", "target_utilization": 0.5, "min": 1, "max": 30, "services": ["api"], **autoscaling}
    return {
        "duration": "20m", "flow": {"batch": 1, "tolerance": 0.01},
        "workload": {"rate": {"pattern": "step", "before": 50, "after": 400, "at": "10m"}},
        "policies": {"autoscaling": spec},
    }


TOPO = {"name": "one", "zones": ["zone-a", "zone-b", "zone-c"], "services": {
    "api": {"entrypoint": True, "replicas": {"zone-a": 1, "zone-b": 1, "zone-c": 1},
            "concurrency": 4, "service_time": {"mean": "10ms", "cv": 1.0}, "timeout": "2s", "queue_limit": 50}}}


def _run(run_sim, engine="flow", **autoscaling):
    return run_sim(TOPO, engine=engine, seed=3, **_step_scenario(**autoscaling))


def _serving(run, every=1.0):
    """Serving replicas of api per recorder sample, and the sample times."""
    rec = run.sim.recorder
    return rec.replicas()[:, 0], np.arange(rec.samples) * rec.interval


def test_hpa_scales_out_on_a_load_step_and_new_replicas_serve_after_startup(run_sim):
    run = _run(run_sim, startup="60s")
    reps, t = _serving(run)
    # a replica serves 4 slots / 10 ms = 400 rps. At 50 rps the 3 replicas are 4 % busy: the HPA
    # scales in to min 1, but not before its 300 s stabilisation window has passed
    assert reps[t < 300].min() == 3
    assert reps[(t >= 400) & (t < 600)].max() == 1
    # the step to 400 rps at 10 m needs 2 replicas at the 50 % target
    ups = [e for e in run.sim.events if e["event"] == "scale-up"]
    assert ups and 600 <= ups[0]["at"] <= 600 + 15
    first_up = ups[0]["at"]
    # the new replicas are not serving before start-up has passed, and are after
    assert reps[(t >= first_up) & (t < first_up + 59)].max() == 1
    assert reps[(t >= first_up + 61) & (t < first_up + 120)].min() >= 2
    util = run.result["services"]["api"]["utilization"]
    assert util["max"] > 0.5


def test_no_startup_delay_serves_at_once(run_sim):
    run = _run(run_sim, startup=0)
    reps, t = _serving(run)
    first_up = [e for e in run.sim.events if e["event"] == "scale-up"][0]["at"]
    assert reps[(t >= first_up + 1) & (t < first_up + 15)].min() >= 2


def test_replicas_spread_over_up_zones(run_sim):
    sc = _step_scenario(startup=0, min=3)
    sc["workload"]["rate"] = {"pattern": "constant", "rps": 1500}
    sc["faults"] = [{"at": 0, "kind": "zone-outage", "zone": "zone-c"}]
    run = run_sim(TOPO, seed=3, **sc)
    a, b, c = (int(x) for x in run.sim.state.replicas[0])
    # 1500 rps at 50 % of 400 rps per replica: 7.5 replicas, and 7 are within the 10 % tolerance
    # (53.6 % busy); zone-c is down, so new replicas all go to zones a and b, evenly, and zone-c
    # keeps its one unreachable replica
    assert c == 1
    assert abs(a - b) <= 1 and 7 <= a + b <= 8
    reps, t = _serving(run)
    assert reps[t > 15 * 60].min() >= 7


def test_request_engine_runs_the_hpa(run_sim):
    run = _run(run_sim, engine="request", startup="30s")
    assert run.result["capacity"]["autoscaling"]["scale_ups"] >= 1
    assert run.result["services"]["api"]["replicas"]["max"] >= 2
    assert run.result["services"]["api"]["availability"] > 0.99


def test_hpa_is_deterministic(run_sim):
    a = _run(run_sim, startup="60s").result
    b = _run(run_sim, startup="60s").result
    assert a["capacity"] == b["capacity"] and a["services"] == b["services"]


@pytest.mark.slow
def test_autoscaler_comparison_on_the_built_in_day():
    """autoscaling-day: the HPA costs about half of the deployed sizing; the predictive
    autoscaler, which saw the 09:00 rush in its history, spends less budget than the HPA at
    about the same cost; both miss the unforeseen spike for a while."""
    from experiments.autoscalers import compare_autoscalers
    from scenarios import bind, load

    sc = load("autoscaling-day")
    rows = {r["autoscaling"]: r for r in compare_autoscalers(sc, bind(sc))}
    none, hpa_, pred = rows["none"], rows["hpa"], rows["predictive"]
    avail = {k: r["slos"]["frontend-availability"]["budget_remaining"] for k, r in rows.items()}
    assert hpa_["cost"] < 0.7 * none["cost"]
    assert abs(pred["cost"] - hpa_["cost"]) < 0.05 * hpa_["cost"]
    assert avail["predictive"] > avail["hpa"] + 0.05
    assert avail["none"] > 0.99
    # latency: the fixed sizing overloads recommendations at the rush (a soft dependency, so slower pages)
    lat = {k: r["slos"]["frontend-latency"]["attainment"] for k, r in rows.items()}
    assert lat["none"] < lat["hpa"]


@pytest.mark.slow
def test_predictive_scales_out_ahead_of_a_rush_it_has_seen():
    """The 09:00 rush of autoscaling-day is in the history: the predictive autoscaler has the
    replicas serving before it; the HPA only reacts once the rush has hit."""
    from experiments.autoscalers import with_autoscaling
    from scenarios import bind, load
    from sim import Simulation

    base = load("autoscaling-day").with_overrides(duration="570m")
    serving = {}
    for kind in ("hpa", "predictive"):
        sc = with_autoscaling(base, base.policies.autoscaling.model_copy(update={"kind": kind}))
        sim = Simulation(sc, topology=bind(sc))
        sim.run()
        rec = sim.recorder
        t = np.arange(rec.samples) * rec.interval
        serving[kind] = rec.replicas()[:, sim.compiled.index["recommendationservice"]], t
    hpa_reps, t = serving["hpa"]
    pred_reps, _ = serving["predictive"]
    just_before = (t >= 9 * 3600 - 60) & (t < 9 * 3600)
    assert pred_reps[just_before].min() >= 2 * hpa_reps[just_before].max()
    # the predictive floor never scales in on its own: at night both sit at the HPA's minimum
    night = (t > 2 * 3600) & (t < 6 * 3600)
    assert pred_reps[night].max() <= hpa_reps[night].max() + 1


def test_the_largest_metric_proposal_wins(run_sim):
    """300 rps on 3 replicas of 400 rps each: the utilisation target of 50 % asks for
    ceil(3 x 0.25 / 0.5) = 2 replicas, a target of 50 rps per replica for 6."""
    sc = _step_scenario(startup=0, metrics=[{"type": "rps", "target": 50}])
    sc["workload"]["rate"] = {"pattern": "constant", "rps": 300}
    both = run_sim(TOPO, seed=3, **sc)
    assert 6 <= int(both.sim.state.replicas[0].sum()) <= 7      # Poisson noise at the 10 % tolerance edge
    sc["policies"]["autoscaling"].pop("metrics")
    util_only = run_sim(TOPO, seed=3, **sc)
    assert int(util_only.sim.state.replicas[0].sum()) == 2


KILLABLE = {"name": "one", "zones": ["zone-a", "zone-b", "zone-c"], "services": {
    "api": {"entrypoint": True, "replicas": {"zone-a": 2, "zone-b": 2, "zone-c": 2},
            "concurrency": 4, "service_time": {"mean": "10ms", "cv": 1.0}, "timeout": "2s", "queue_limit": 50}}}


def test_killed_pods_are_replaced_and_stay_killed_across_other_faults(run_sim):
    """Half the pods killed, then load triples: the HPA replaces them and scales out (lost pods
    do not linger as pods without metrics), and a later unrelated fault does not kill again
    from the larger fleet."""
    run = run_sim(KILLABLE, seed=3, duration="15m", flow={"batch": 10, "tolerance": 0.01},
                  workload={"rate": {"pattern": "step", "before": 1200, "after": 3600, "at": "3m"}},
                  faults=[{"at": 60, "kind": "kill-instances", "service": "api", "fraction": 0.5},
                          {"at": 600, "kind": "latency", "service": "api", "delay": "1ms", "duration": 60}],
                  policies={"autoscaling": {"kind": "hpa", "target_utilization": 0.5, "min": 6, "max": 60,
                                            "services": ["api"], "startup": "30s"}})
    st = run.sim.state
    assert st.killed[0].tolist() == [1, 1, 1]                  # 3 of the 6 deployed, fixed at injection
    # 3600 rps at 50 % of 400 rps per replica: 18 serving
    assert int(st.up_replicas()[0].sum()) == 18
    assert run.result["services"]["api"]["availability"] > 0.97


def test_new_pods_are_not_credited_with_the_old_fleets_load(run_sim):
    """A step to 1200 rps needs 6 replicas at 50 %; the count settles there without overshoot
    (pods that have just become ready count as not ready for one sync, as in the HPA)."""
    run = run_sim(KILLABLE, seed=3, duration="12m", flow={"batch": 10, "tolerance": 0.01},
                  workload={"rate": {"pattern": "step", "before": 100, "after": 1200, "at": "1m"}},
                  policies={"autoscaling": {"kind": "hpa", "target_utilization": 0.5, "min": 1, "max": 60,
                                            "services": ["api"], "startup": "30s",
                                            "behavior": {"scale_down": {"stabilization_window": 0}}}})
    reps, t = _serving(run)
    assert reps.max() <= 7
    assert reps[t > 300].min() == 6 and reps[t > 300].max() <= 7
