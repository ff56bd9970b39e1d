"""The built-in pair incident-response-manual / incident-response-automated: the same faults, met by an
on-call human or by runbooks. Measured with the scenarios' own seed (42) over their full 3 hours."""

from __future__ import annotations

import pytest

from scenarios import load
from sim import Simulation


@pytest.fixture(scope="module")
def pair():
    return {k: Simulation(load(f"incident-response-{k}")).run() for k in ("manual", "automated")}


def test_the_pair_runs_the_same_faults(pair):
    manual, automated = load("incident-response-manual"), load("incident-response-automated")
    assert manual.faults == automated.faults and manual.slos == automated.slos
    assert manual.policies.incident_response.automation is None
    assert automated.policies.incident_response.automation is not None


def test_automation_restores_faster_and_spends_less_budget(pair):
    m, a = pair["manual"]["incident_response"], pair["automated"]["incident_response"]
    assert a["auto_remediated"] == a["incidents"] == 3 and m["auto_remediated"] == 0
    assert a["incidents"] == m["incidents"] == 3   # the same incidents: the cart crash is one by hand too
    assert a["mttr"] < m["mttr"] / 5          # measured: 5.0 m against 48.0 m
    assert a["toil_minutes"] == 0 and m["toil_minutes"] > 60   # measured: 143 human minutes
    for sm, sa in zip(pair["manual"]["slos"], pair["automated"]["slos"]):
        assert 1 - sa["budget_remaining"] < (1 - sm["budget_remaining"]) / 5   # measured: 20 % against 202 %


def test_the_manual_incidents_are_the_automated_ones(pair):
    assert [i["cause"] for i in pair["manual"]["incidents"]] == [
        i["cause"] for i in pair["automated"]["incidents"]]
    assert pair["automated"]["passed"] and not pair["manual"]["passed"]


def test_each_fault_is_one_incident_with_its_runbook(pair):
    incs = pair["automated"]["incidents"]
    assert [(i["cause"], [x["action"] for x in i["actions"]]) for i in incs] == [
        ("zone-outage:zone-a", ["failover"]),
        ("bad-deploy:productcatalogservice", ["rollback"]),
        ("kill-instances:cartservice", ["restart"])]
    # both SLOs page for every fault and are correlated into its one incident
    assert all(i["slos"] == ["frontend-availability", "checkout-availability"] for i in incs)
