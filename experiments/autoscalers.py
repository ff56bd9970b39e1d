"""Compare autoscalers on one scenario: the same workload, faults and seed under no autoscaling
(the deployed replicas), the HPA and the predictive autoscaler."""

from __future__ import annotations

from typing import Any

from scenarios.schema import Autoscaling, Scenario
from sim.simulation import Simulation
from srelab.errors import ScenarioError
from topology import Topology

__all__ = ["compare_autoscalers", "with_autoscaling", "KINDS"]

KINDS = ("none", "hpa", "predictive")


def with_autoscaling(scenario: Scenario, spec: Autoscaling) -> Scenario:
    """The same scenario under another ``policies.autoscaling``."""
    return scenario.model_copy(update={"policies": scenario.policies.model_copy(update={"autoscaling": spec})})


def compare_autoscalers(scenario: Scenario, topology: Topology, kinds: tuple[str, ...] = KINDS,
                        seed: int | None = None) -> list[dict[str, Any]]:
    """One row per autoscaler kind: SLO attainment and budget left, replica-hours, cost, verdict."""
    spec = scenario.policies.autoscaling
    if spec is None:
        raise ScenarioError("the scenario has no policies.autoscaling to compare; add one, e.g. "
                            "autoscaling: {kind: hpa, target_utilization: 0.6, min: 2, max: 40}",
                            source=scenario.source, field="policies.autoscaling")
    rows = []
    for kind in kinds:
        variant = with_autoscaling(scenario, spec.model_copy(update={"kind": kind}))
        sim = Simulation(variant, seed=seed, topology=topology)
        result = sim.run()
        cap = result["capacity"]
        rows.append({
            "autoscaling": kind,
            "slos": {s["name"]: {"attainment": s["attainment"], "budget_remaining": s["budget_remaining"]}
                     for s in result["slos"]},
            "replica_hours": cap["replica_hours"], "cost": cap["cost"],
            # the most serving at once over the fleet (recorder samples), not the sum of each one's peak
            "peak_replicas": float(sim.recorder.replicas().sum(axis=1).max()),
            "mean_replicas": cap["replica_hours"] * 3600.0 / result["sim_seconds"],
            "scale_ups": cap.get("autoscaling", {}).get("scale_ups", 0),
            "scale_downs": cap.get("autoscaling", {}).get("scale_downs", 0),
            "passed": result["passed"],
        })
    return rows
