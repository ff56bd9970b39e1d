"""Loading scenarios: a file or a built-in name -> a validated, frozen :class:`Scenario`,
and binding it to its topology with every reference checked."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from scenarios.openslo import expand as expand_openslo
from scenarios.schema import Scenario
from srelab.errors import ScenarioError, TopologyError, from_validation_error
from srelab.yamlio import load_document
from topology import Topology, resolve

__all__ = ["load", "library", "library_path", "bind", "validate_file", "topology_source"]


def library_path() -> Path:
    return Path(str(resources.files("scenarios") / "library"))


def library() -> dict[str, Path]:
    """Built-in scenarios by name."""
    return {p.stem: p for p in sorted(library_path().glob("*.yaml"))}


def load(source: str | Path) -> Scenario:
    """Load a scenario from a YAML path or a built-in name."""
    text = str(source)
    path = Path(text)
    if not path.exists() and text in library():
        path = library()[text]
    elif not path.exists() and path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise ScenarioError(f"no such scenario; give a YAML file or a built-in name "
                            f"({', '.join(library())}); `srelab scenarios list` shows them", source=text)
    data, lines = load_document(path, kind=ScenarioError)
    if not isinstance(data, dict):
        raise ScenarioError("expected a mapping with name, topology, workload, ...", source=path)
    data = expand_openslo(data, path.resolve().parent, source=path)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc, source=path, kind=ScenarioError, lines=lines) from None
    scenario._base_dir = str(path.resolve().parent)
    scenario._source = str(path)
    scenario._lines = lines
    return scenario


def topology_source(scenario: Scenario) -> str:
    """The scenario's topology reference, with a relative file path made absolute against the
    scenario file's folder (never against the current directory)."""
    ref = scenario.topology
    if Path(ref).suffix.lower() in (".yaml", ".yml", ".json", ".graphml") and not Path(ref).is_absolute():
        return str((Path(scenario.base_dir) / ref).resolve())
    return ref


def bind(scenario: Scenario) -> Topology:
    """Resolve the scenario's topology and check every name the scenario uses against it."""
    try:
        topo = resolve(topology_source(scenario))
    except TopologyError as exc:
        if exc.source == scenario.topology or exc.source is None:
            raise ScenarioError(f"topology: {exc.message}", source=scenario.source) from None
        raise
    services = topo.services

    def need(cond: bool, field: str, message: str) -> None:
        if not cond:
            line = scenario.lines.get(field) or scenario.lines.get(field.rsplit(".", 1)[0])
            raise ScenarioError(message + (f" (line {line})" if line else ""), source=scenario.source, field=field)

    def svc(name: str | None, field: str) -> None:
        need(name is None or name in services, field,
             f"no service {name!r} in topology {topo.name}; `srelab topology show {scenario.topology}` lists them")

    entries = set(topo.entrypoints)
    for name in (scenario.workload.entrypoints or {}):
        svc(name, f"workload.entrypoints.{name}")
        need(name in entries, f"workload.entrypoints.{name}",
             f"{name!r} is not an entry point of {topo.name}; its entry points are {sorted(entries)[:5]}")
    for i, slo in enumerate(scenario.slos):
        svc(slo.service, f"slos[{i}].service")
    for i, f in enumerate(scenario.faults):
        svc(f.service, f"faults[{i}].service")
        svc(f.source, f"faults[{i}].from")
        svc(f.target, f"faults[{i}].to")
        if f.source and f.target:
            need(topo.graph.has_edge(f.source, f.target), f"faults[{i}]",
                 f"{f.source} does not call {f.target}; a blackhole needs an existing dependency")
        for z in ([f.zone] if f.zone else []) + (f.zones or []):
            need(z in topo.zones, f"faults[{i}].zone", f"no zone {z!r}; the zones are {list(topo.zones)}")
        for e in f.entrypoints or []:
            need(e in entries, f"faults[{i}].entrypoints", f"{e!r} is not an entry point of {topo.name}")
    scaling = scenario.policies.autoscaling
    for i, name in enumerate((scaling.services or []) if scaling is not None else []):
        svc(name, f"policies.autoscaling.services[{i}]")
    for i, name in enumerate((scenario.deployments.services or []) if scenario.deployments else []):
        svc(name, f"deployments.services[{i}]")
    slo_names = {s.name for s in scenario.slos}
    for i, a in enumerate(scenario.assertions):
        need(a.slo is None or a.slo in slo_names, f"assert[{i}].slo",
             f"no SLO named {a.slo!r}; the scenario defines {sorted(slo_names)}")
        svc(a.service, f"assert[{i}].service")
    return topo


def validate_file(source: str | Path) -> tuple[Scenario, Topology]:
    """Load and bind: everything ``srelab scenarios validate`` checks."""
    scenario = load(source)
    return scenario, bind(scenario)
