"""Pages, correlation into incidents, responders (runbooks, on-call human) and toil.

The topology: entry points ``a`` and ``b`` both call ``c``; entry point ``x`` calls ``y``.
Every SLO is 99.9 % over 30 days with the Workbook's rules evaluated every minute, so a total
outage at 5m pages at 6m (the first evaluation after 0.0144 x the 5 minutes of run so far)."""

from __future__ import annotations

import pytest

from scenarios.schema import Scenario

TOPO = {"name": "shared", "zones": ["zone-a", "zone-b"], "services": {
    "a": {"entrypoint": True, "replicas": 4, "concurrency": 8, "service_time": {"mean": "5ms"}},
    "b": {"entrypoint": True, "replicas": 4, "concurrency": 8, "service_time": {"mean": "5ms"}},
    "x": {"entrypoint": True, "replicas": 4, "concurrency": 8, "service_time": {"mean": "5ms"}},
    "c": {"replicas": 4, "concurrency": 8, "service_time": {"mean": "5ms"}},
    "y": {"replicas": 4, "concurrency": 8, "service_time": {"mean": "5ms"}}},
    "dependencies": [{"from": "a", "to": "c"}, {"from": "b", "to": "c"}, {"from": "x", "to": "y"}]}
SLOS = [{"name": n, "service": n, "target": 99.9} for n in "abx"]
FAST = {"batch": 10, "tolerance": 0.01}
KILL_C = {"at": "5m", "kind": "kill-instances", "service": "c", "fraction": 1.0}
KILL_Y = {"at": "5m", "kind": "kill-instances", "service": "y", "fraction": 1.0}
FIXED = {"acknowledge": {"median": "5m", "sigma": 0}, "diagnose": {"median": "10m", "sigma": 0},
         "mitigate": {"median": "5m", "sigma": 0}, "verify": "2m"}


def _run(run_sim, faults, response=None, duration="40m", **extra):
    policies = {"incident_response": response} if response is not None else {}
    return run_sim(TOPO, duration=duration, slos=SLOS, faults=faults, flow=FAST, policies=policies, **extra)


def test_two_slos_with_one_upstream_root_cause_give_one_page(run_sim, result_contract):
    r = _run(run_sim, [KILL_C]).result
    result_contract(r, exact=True)
    [inc] = r["incidents"]
    assert inc["cause"] == "kill-instances:c" and inc["root_services"] == ["c"]
    assert inc["slos"] == ["a", "b"]
    paged = {(r["alerts"][k]["slo"], r["alerts"][k]["rule"]) for k in inc["alerts"]}
    assert {("a", "page-fast"), ("b", "page-fast")} <= paged
    assert all(r["alerts"][k]["severity"] == "page" for k in inc["alerts"])
    ir = r["incident_response"]
    assert ir["page_alerts"] == inc["page_alerts"] >= 2
    assert ir["pages"] == ir["incidents"] == 1
    assert inc["started_at"] == 300.0 and inc["detected_at"] == 360.0 and inc["first_errors_at"] == 300.0
    # no responder: recorded only, never mitigated while the fault lasts
    assert inc["mitigated_at"] is None and inc["acknowledged_at"] is None and not inc["auto_remediated"]


def test_unrelated_failures_give_two_pages(run_sim):
    r = _run(run_sim, [KILL_C, KILL_Y]).result
    assert r["incident_response"]["pages"] == 2
    by_cause = {i["cause"]: i for i in r["incidents"]}
    assert set(by_cause) == {"kill-instances:c", "kill-instances:y"}
    assert by_cause["kill-instances:c"]["slos"] == ["a", "b"]
    assert by_cause["kill-instances:y"]["slos"] == ["x"] and by_cause["kill-instances:y"]["root_services"] == ["y"]


def test_a_fault_that_ends_by_itself_mitigates_and_resolves_the_incident(run_sim):
    r = _run(run_sim, [{**KILL_C, "duration": "10m"}], duration="1h").result
    [inc] = r["incidents"]
    assert inc["mitigated_at"] == 900.0 and inc["mitigated_by"] == "fault-ended"
    assert inc["time_to_mitigate"] == 600.0
    # resolved once every grouped page has cleared (the slow page's 30 m window is the last)
    last = max(r["alerts"][k]["resolved_at"] for k in inc["alerts"])
    assert inc["resolved_at"] == last > 900.0


def test_fixed_duration_human_timing_and_toil(run_sim):
    """Acknowledge 5 m, diagnose 10 m, mitigate 5 m, verify 2 m, all fixed: the restart lands at
    6m + 20m = 26m; toil runs from the acknowledgement (11m) to the verification (28m)."""
    run = _run(run_sim, [KILL_C], {"on_call": FIXED})
    [inc] = run.result["incidents"]
    assert inc["acknowledged_at"] == 660.0 and inc["responder"] == "primary" and not inc["escalated"]
    assert inc["mitigated_at"] == 1560.0 and inc["mitigated_by"] == "primary" and not inc["auto_remediated"]
    assert [(a["action"], a["by"], a["outcome"], a["at"]) for a in inc["actions"]] == [
        ("restart", "primary", "applied", 1560.0)]
    assert inc["time_to_detect"] == 60.0 and inc["time_to_acknowledge"] == 300.0
    assert inc["time_to_mitigate"] == 1260.0
    assert inc["toil_minutes"] == pytest.approx(17.0)
    ir = run.result["incident_response"]
    assert (ir["mttd"], ir["mtta"], ir["mttr"], ir["toil_minutes"]) == (60.0, 300.0, 1260.0, pytest.approx(17.0))
    # the restart really ended the errors
    a = run.errors("a")
    assert a[run.window(600, 1500)].sum() > 0.9 * run.arrivals("a")[run.window(600, 1500)].sum()
    assert a[run.window(1570, 2400)].sum() == 0
    assert [p["policy"] for p in run.result["policy_actions"]] == ["on-call"]


def test_an_unacknowledged_page_escalates_to_the_secondary(run_sim):
    slow = {**FIXED, "acknowledge": {"median": "20m", "sigma": 0}, "escalation_timeout": "15m"}
    r = _run(run_sim, [KILL_C], {"on_call": slow}, duration="1h").result
    [inc] = r["incidents"]
    assert inc["escalated"] and inc["responder"] == "secondary"
    assert inc["acknowledged_at"] == 360.0 + 900.0 + 1200.0
    assert inc["mitigated_at"] == 2460.0 + 900.0 and inc["mitigated_by"] == "secondary"
    assert r["incident_response"]["escalations"] == 1


def test_automation_ends_errors_earlier_than_manual(run_sim):
    auto = {"automation": {"runbooks": {"restart": {"duration": "2m", "success_probability": 1.0}}},
            "on_call": FIXED}
    manual = _run(run_sim, [KILL_C], {"on_call": FIXED})
    automated = _run(run_sim, [KILL_C], auto)
    [m], [a] = manual.result["incidents"], automated.result["incidents"]
    assert a["auto_remediated"] and a["mitigated_by"] == "automation" and a["toil_minutes"] == 0.0
    assert a["mitigated_at"] == 360.0 + 120.0 and a["acknowledged_at"] is None
    assert a["time_to_mitigate"] < m["time_to_mitigate"] / 5
    errs_auto, errs_manual = automated.errors("a"), manual.errors("a")
    assert errs_auto[automated.window(490, 1500)].sum() == 0
    assert errs_manual[manual.window(490, 1500)].sum() > 0
    budget = {r: {s["name"]: s["budget_remaining"] for s in run.result["slos"]}
              for r, run in (("auto", automated), ("manual", manual))}
    assert budget["auto"]["a"] > budget["manual"]["a"] + 0.3
    assert a["budget_consumed"]["a"] < m["budget_consumed"]["a"] / 5


def test_a_failed_runbook_pages_the_human(run_sim):
    auto = {"automation": {"runbooks": {"restart": {"duration": "2m", "success_probability": 0.0}}},
            "on_call": FIXED}
    [inc] = _run(run_sim, [KILL_C], auto).result["incidents"]
    assert [(x["action"], x["by"], x["outcome"]) for x in inc["actions"]] == [
        ("restart", "automation", "failed"), ("restart", "primary", "failed"), ("fix", "primary", "applied")]
    # page at 6m, runbook 2m (fails), then ack 5m, diagnose 10m, restart 5m (fails), fix 5m
    assert inc["acknowledged_at"] == 480.0 + 300.0
    assert inc["mitigated_at"] == 780.0 + 600.0 + 300.0 + 300.0
    assert not inc["auto_remediated"] and inc["mitigated_by"] == "primary"


def test_failover_drains_the_failed_zone_onto_the_healthy_one(run_sim):
    topo = {"name": "zonal", "zones": ["zone-a", "zone-b"], "services": {
        "web": {"entrypoint": True, "replicas": 4, "concurrency": 8, "service_time": {"mean": "5ms"}},
        "db": {"replicas": {"zone-a": 2}, "concurrency": 8, "service_time": {"mean": "2ms"}}},
        "dependencies": [{"from": "web", "to": "db"}]}
    auto = {"automation": {"runbooks": {"failover": {"duration": "3m", "startup": "1m",
                                                     "success_probability": 1.0}}}}
    run = run_sim(topo, duration="30m", slos=[{"name": "web", "service": "web", "target": 99.9}], flow=FAST,
                  faults=[{"at": "5m", "kind": "zone-outage", "zone": "zone-a"}],
                  policies={"incident_response": auto})
    [inc] = run.result["incidents"]
    assert inc["cause"] == "zone-outage:zone-a" and inc["root_services"] == ["db"]
    assert inc["mitigated_at"] == 360.0 + 180.0 + 60.0 and inc["auto_remediated"]
    reps = run.sim.state.replicas
    assert reps[run.i("db")].tolist() == [0, 2] and reps[run.i("web")].tolist() == [0, 4]
    assert run.errors("web")[run.window(610, 1800)].sum() == 0
    unav = run.errors("db", "unavailable")
    assert unav[run.window(300, 590)].sum() > 0


def test_throttled_service_is_scaled_out(run_sim):
    auto = {"automation": {"runbooks": {"scale-out": {"duration": "1m", "startup": "1m", "factor": 3,
                                                      "success_probability": 1.0}}}}
    run = _run(run_sim, [{"at": "5m", "kind": "cpu-throttle", "service": "c", "multiplier": 40}], auto,
               duration="30m", workload={"rate": {"pattern": "constant", "rps": 300}})
    [inc] = run.result["incidents"]
    assert inc["cause"] == "cpu-throttle:c"
    [act] = inc["actions"]
    assert act["action"] == "scale-out" and act["target"] == "cpu-throttle:c, c"
    assert run.sim.state.replicas[run.i("c")].sum() == 12
    assert run.replicas("c")[run.window(0, 300)].mean() == 4


def test_request_engine_automated_restart(run_sim):
    auto = {"automation": {"runbooks": {"restart": {"duration": "2m", "success_probability": 1.0}}}}
    run = _run(run_sim, [KILL_C], auto, duration="15m", engine="request",
               workload={"rate": {"pattern": "constant", "rps": 50}})
    assert run.result["engine"] == "request"
    [inc] = run.result["incidents"]
    assert inc["auto_remediated"] and inc["mitigated_at"] == 480.0
    a = run.errors("a")
    assert a[run.window(300, 470)].sum() > 0 and a[run.window(490, 900)].sum() == 0


def test_same_seed_same_response_and_lognormal_draws_vary_with_the_seed(run_sim):
    oc = {"on_call": {"acknowledge": {"median": "5m", "sigma": 0.8}}}
    one = _run(run_sim, [KILL_C], oc, duration="2h", seed=7).result
    two = _run(run_sim, [KILL_C], oc, duration="2h", seed=7).result
    other = _run(run_sim, [KILL_C], oc, duration="2h", seed=8).result
    assert one["incidents"] == two["incidents"]
    assert one["incidents"][0]["acknowledged_at"] != other["incidents"][0]["acknowledged_at"]


def test_overload_without_a_fault_is_diagnosed_and_scaled_out(run_sim):
    topo = {"name": "small", "zones": ["zone-a"], "services": {
        "web": {"entrypoint": True, "replicas": 2, "concurrency": 4, "service_time": {"mean": "10ms"}}}}
    auto = {"automation": {"runbooks": {"scale-out": {"duration": "1m", "startup": "1m", "factor": 2,
                                                      "success_probability": 1.0}}}}
    run = run_sim(topo, duration="30m", flow=FAST, slos=[{"name": "web", "service": "web", "target": 99.9}],
                  workload={"rate": {"pattern": "step", "before": 400, "after": 1200, "at": "5m"}},
                  policies={"incident_response": auto})
    [inc] = run.result["incidents"]
    assert inc["cause"] == "overload:web" and inc["started_at"] == 300.0
    assert inc["auto_remediated"] and run.sim.state.replicas[0].sum() == 4
    over = run.errors("web", "overload")
    assert over[run.window(300, 400)].sum() > 0 and over[run.window(inc["mitigated_at"] + 10, 1800)].sum() < 1e-3


@pytest.mark.parametrize("policy,message", [
    ({"automation": {"runbooks": {"reboot": {"duration": "1m"}}}}, "runbooks.reboot"),
    ({"on_call": {"acknowledge": {"mean": "5m"}}}, "on_call.acknowledge"),
    ({"automation": {"runbooks": {"restart": {"duration": "1m", "success_probability": 2}}}},
     "success_probability"),
    ({"automation": {"runbooks": {"restart": {"duration": "1m", "factor": 3}}}}, "only scale-out takes a factor"),
])
def test_bad_response_policy_is_rejected_with_the_field(policy, message, tmp_path, srelab):
    import yaml
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump({"name": "bad", "topology": "online-boutique",
                                 "policies": {"incident_response": policy}}))
    res = srelab("scenarios", "validate", f)
    assert res.code == 2 and message in res.err_text and "Traceback" not in res.err_text
    Scenario.model_validate({"name": "ok", "topology": "t", "policies": {"incident_response": {"on_call": {}}}})



def test_an_slo_that_always_burns_a_little_still_verifies_and_old_faults_are_not_the_cause(run_sim):
    """c always fails 0.3 % of requests (burn 3x on a 99.9 % SLO): after the restart the SLO is back
    to its usual level, which counts as mitigated; the old error-rate fault is not blamed."""
    auto = {"automation": {"runbooks": {"restart": {"duration": "2m", "success_probability": 1.0}}}}
    steady = {"at": "0s", "kind": "error-rate", "service": "c", "rate": 0.003}
    r = _run(run_sim, [steady, {**KILL_C, "at": "40m"}], auto, duration="1h").result
    [inc] = r["incidents"]
    assert inc["cause"] == "kill-instances:c" and inc["started_at"] == 2400.0
    assert inc["auto_remediated"] and inc["mitigated_at"] == 2460.0 + 120.0


def test_latency_pages_with_no_failing_service_group_by_graph_and_time(run_sim):
    """A slow c fails nothing, so no root cause is localised: the latency pages of a and b (both call
    c) fire in the same minute and group; x's, behind an unrelated slow y, stays apart."""
    slos = [{"name": f"{n}-latency", "service": n, "kind": "latency", "threshold": "100ms", "target": 99}
            for n in "abx"]
    faults = [{"at": "5m", "kind": "latency", "service": "c", "delay": "300ms"},
              {"at": "5m", "kind": "latency", "service": "y", "delay": "300ms"}]
    r = run_sim(TOPO, duration="20m", slos=slos, faults=faults, flow=FAST).result
    by_cause = {i["cause"]: i for i in r["incidents"]}
    assert set(by_cause) == {"latency:c", "latency:y"}
    assert by_cause["latency:c"]["slos"] == ["a-latency", "b-latency"]
    assert by_cause["latency:y"]["slos"] == ["x-latency"]
    assert r["incident_response"]["pages"] == 2


def _events(run, name):
    return [e for e in run.sim.events if e["event"] == name]


def test_the_mitigated_event_carries_the_mitigation_time_and_verification_follows(run_sim):
    """The restart lands at 6m + 2m; verified 2 m later: events.json says mitigated at 8m, like the
    incident, and logs the verification apart."""
    auto = {"automation": {"runbooks": {"restart": {"duration": "2m", "success_probability": 1.0}}, "verify": "2m"}}
    run = _run(run_sim, [KILL_C], auto)
    [inc] = run.result["incidents"]
    assert inc["mitigated_at"] == 480.0
    [mitigated] = _events(run, "incident-mitigated")
    [verified] = _events(run, "mitigation-verified")
    assert mitigated["at"] == inc["mitigated_at"] and verified["at"] == 600.0
    assert all(a["at"] <= b["at"] for a, b in zip(run.sim.events, run.sim.events[1:]))


def test_a_bad_release_starts_when_it_first_went_live_and_its_waves_are_one_cause(run_sim):
    """Without canaries a bad release's fault is re-injected at each of its four waves: the incident
    starts at the release (not its last wave) and a superseded wave does not mitigate it."""
    deployments = {"per_day": 24, "services": ["c"], "bad_release_probability": 1.0, "rollout": "20m",
                   "effect": {"error_rate": 0.5}}
    run = run_sim(TOPO, duration="2h", slos=SLOS, faults=[], flow=FAST, deployments=deployments, seed=3)
    r = run.result
    first = min((x for x in r["deployments"]["releases"] if x["started_at"] is not None),
                key=lambda x: x["started_at"])
    inc = r["incidents"][0]
    assert inc["cause"] == "bad-deploy:c"
    assert inc["started_at"] == first["started_at"] and inc["first_errors_at"] == first["started_at"]
    assert inc["detected_at"] - inc["started_at"] < 600.0   # a 50 % error release pages within minutes
    assert inc["mitigated_at"] is None                      # no responder and the release stays live
    # each bad release is its own incident, starting when that release went live
    starts = sorted(x["started_at"] for x in r["deployments"]["releases"] if x["started_at"] is not None)
    assert sorted(i["started_at"] for i in r["incidents"]) == starts


def test_a_new_fault_behind_a_firing_page_is_its_own_incident(run_sim):
    """A bad release of c pages at 6m; c crashes at 10m while that page still fires (no new page).
    The crash opens its own incident; the human's rollback of the release (6 + 5 + 10 + 5 = 26m)
    mitigates the release's incident although the crash keeps the SLOs burning."""
    bad = {"at": "5m", "kind": "bad-deploy", "service": "c", "rate": 0.3}
    crash = {**KILL_C, "at": "10m", "duration": "40m"}
    r = _run(run_sim, [bad, crash], {"on_call": FIXED}, duration="1h").result
    assert [i["cause"] for i in r["incidents"]] == ["bad-deploy:c", "kill-instances:c"]
    release, crashed = r["incidents"]
    assert [(a["action"], a["at"]) for a in release["actions"]] == [("rollback", 1560.0)]
    assert release["mitigated_at"] == 1560.0 and release["mitigated_by"] == "primary"
    assert crashed["started_at"] == 600.0 and crashed["page_alerts"] == 0
    assert 600.0 < crashed["detected_at"] <= 720.0 and crashed["slos"] == ["a", "b"]
    # the budget of the minutes both were open is split between them, not counted twice
    for slo in ("a", "b"):
        total = 1 - next(s for s in r["slos"] if s["name"] == slo)["budget_remaining"]
        assert release["budget_consumed"][slo] + crashed["budget_consumed"][slo] <= total + 1e-9
