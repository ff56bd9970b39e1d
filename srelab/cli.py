"""The ``srelab`` command.

click is used for the command tree: it is mature, small, lets us map every
error to the design's exit codes in one place (``main``), and its testing
runner drives the CLI in-process. rich renders tables and progress.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from srelab.console import err, out, print_json
from srelab.errors import InputError, SrelabError

__all__ = ["cli", "main"]

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="srelab", prog_name="srelab")
def cli() -> None:
    """srelab: a reliability lab for SRE teams.

    Model a fleet's service graph, simulate load, faults and policies, and
    compare with live chaos experiments. Exit codes: 0 ok, 1 an assertion
    failed, 2 invalid input, 3 a target could not be reached, 130 interrupted.
    """


# -- topology ------------------------------------------------------------------

@cli.group(context_settings=CONTEXT)
def topology() -> None:
    """Service graphs: list, show, analyze, generate.

    SOURCE is a file (YAML, JSON, GraphML), a built-in name, generate:N[:seed], or
    bolt://HOST:PORT/FLEET (a fleet in Neo4j).
    """


def _resolve(source: str):
    from topology import resolve
    return resolve(source)


@topology.command("list")
def topology_list() -> None:
    """List the built-in topologies."""
    from topology.catalog import BUILTIN, resolve
    table = Table(title="Built-in topologies")
    for col in ("name", "services", "dependencies", "entry points", "description"):
        table.add_column(col, justify="right" if col in ("services", "dependencies", "entry points") else "left")
    for name, (desc, _) in BUILTIN.items():
        t = resolve(name)
        table.add_row(name, str(len(t)), str(t.graph.number_of_edges()), str(len(t.entrypoints)), desc)
    out.print(table)


def _fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:g}ms"


@topology.command("show")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print the topology in the file format as JSON.")
@click.option("--limit", default=40, show_default=True, help="Services to list on a terminal (0 = all).")
def topology_show(source: str, as_json: bool, limit: int) -> None:
    """Show a topology's services and dependencies."""
    from topology.io import to_dict
    topo = _resolve(source)
    if as_json:
        print_json(to_dict(topo))
        return
    out.print(f"[bold]{topo.name}[/]: {len(topo)} services, {topo.graph.number_of_edges()} dependencies, "
              f"zones {', '.join(topo.zones)}")
    if topo.description:
        out.print(topo.description)
    table = Table()
    for col in ("service", "entry", "replicas", "conc.", "service time", "timeout", "retries", "breaker",
                "stateful", "calls"):
        table.add_column(col)
    rows = list(topo.services.items())
    shown = rows if limit <= 0 else rows[:limit]
    for name, s in shown:
        reps = "/".join(str(s.replicas.get(z, 0)) for z in topo.zones)
        calls = ", ".join(f"{d.target}{'' if d.criticality == 'hard' else '~'}" for d in topo.callees(name))
        table.add_row(name, "yes" if s.entrypoint else "", f"{s.total_replicas} ({reps})", str(s.concurrency),
                      f"{_fmt_ms(s.service_time.mean)} cv {s.service_time.cv:g}", _fmt_ms(s.timeout),
                      str(s.retries.attempts or ""), "yes" if s.circuit_breaker else "",
                      "yes" if s.stateful else "", calls)
    out.print(table)
    if len(shown) < len(rows):
        out.print(f"... {len(rows) - len(shown)} more services (--limit 0 lists all, --json for everything)")
    out.print("~ marks a soft dependency")


def _print_blast(br) -> None:
    out.print(f"[bold]Blast radius of {br.cause}[/]: {len(br.failed)} services fail, "
              f"{len(br.degraded)} degrade, {len(br.reduced_capacity)} lose capacity")
    table = Table()
    for col in ("entry point", "status", "because"):
        table.add_column(col)
    for e, status in br.entrypoints.items():
        table.add_row(e, status, " -> ".join(br.paths.get(e, [])))
    out.print(table)


@topology.command("analyze")
@click.argument("source")
@click.option("--service", help="Blast radius of losing this service.")
@click.option("--zone", help="Blast radius of losing this zone.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--top", default=10, show_default=True, help="Rows per table on a terminal.")
def topology_analyze(source: str, service: str | None, zone: str | None, as_json: bool, top: int) -> None:
    """Blast radius, single points of failure, critical paths, retry amplification, fan-out and depth."""
    from topology import analysis
    topo = _resolve(source)
    if service or zone:
        if service and zone:
            raise InputError("give --service or --zone, not both", field="--service/--zone")
        if service and service not in topo.graph:
            raise InputError(f"no service {service!r} in {topo.name}; see `srelab topology show {source}`",
                             field="--service")
        if zone and zone not in topo.zones:
            raise InputError(f"no zone {zone!r}; the zones are {', '.join(topo.zones)}", field="--zone")
        br = analysis.blast_radius(topo, service=service, zone=zone)
        if as_json:
            print_json(br.to_dict())
        else:
            _print_blast(br)
        return
    report = analysis.analyze(topo)
    if as_json:
        print_json(report)
        return
    _print_report(report, top)


def _print_report(r: dict[str, Any], top: int) -> None:
    s = r["stats"]
    out.print(f"[bold]{r['topology']}[/]: {s['services']} services, {s['dependencies']} dependencies, "
              f"{s['replicas']} replicas over {len(s['zones'])} zones, {s['stateful']} stateful")
    roles = s["roles"]
    out.print(f"roles: {roles['entry']:.0%} entry, {roles['middle']:.0%} middle, {roles['leaf']:.0%} leaf; "
              f"fan-out mean {s['fan_out']['mean']} p90 {s['fan_out']['p90']:g} max {s['fan_out']['max']:g}; "
              f"depth mean {s['depth']['mean']} max {s['depth']['max']:g}")
    hot = ", ".join(f"{h['service']} ({h['callers']})" for h in s["hot_spots"])
    out.print(f"hot spots (callers): {hot}")

    spof = r["single_points_of_failure"]
    t = Table(title=f"Single points of failure: {len(spof['critical'])} services fail an entry point when lost; "
                    f"{len(spof['zone_confined'])} confined to one zone; {len(spof['single_replica'])} single replica")
    for col in ("service", "entry points failed", "replicas", "zones"):
        t.add_column(col)
    for c in spof["critical"][:top]:
        t.add_row(c["service"], str(c["entrypoints_failed"]), str(c["replicas"]), str(c["zones"]))
    out.print(t)
    if spof["zone_confined"]:
        t = Table(title="Zone-confined services (a zone outage takes them down)")
        for col in ("service", "zone", "entry points failed"):
            t.add_column(col)
        for c in sorted(spof["zone_confined"], key=lambda c: -c["entrypoints_failed"])[:top]:
            t.add_row(c["service"], c["zone"], str(c["entrypoints_failed"]))
        out.print(t)

    t = Table(title="Zone outages")
    for col in ("zone", "entry points failed", "degraded", "at risk (capacity lost)", "services failed"):
        t.add_column(col)
    for z, v in r["zone_blast_radius"].items():
        t.add_row(z, str(v["entrypoints_failed"]), str(v["entrypoints_degraded"]), str(v["entrypoints_at_risk"]),
                  str(len(v["services_failed"])))
    out.print(t)

    cps = sorted(r["critical_paths"].items(), key=lambda kv: -kv[1]["path_latency_ms"])[:top]
    t = Table(title="Critical paths (longest synchronous path by mean service time)")
    for col in ("entry point", "path ms", "expected ms", "path"):
        t.add_column(col)
    for e, v in cps:
        t.add_row(e, f"{v['path_latency_ms']:.1f}", f"{v['expected_latency_ms']:.1f}", " -> ".join(v["path"]))
    out.print(t)

    amps = sorted(r["retry_amplification"].items(), key=lambda kv: -kv[1]["multiplier"])[:top]
    t = Table(title="Retry amplification (worst-case load multiplier along one path)")
    for col in ("entry point", "multiplier", "path"):
        t.add_column(col)
    for e, v in amps:
        t.add_row(e, f"{v['multiplier']:g}x", " -> ".join(v["path"]))
    out.print(t)


@topology.command("generate")
@click.option("--services", "-n", type=click.IntRange(3, 200_000), required=True, help="Number of services.")
@click.option("--seed", "-s", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write (.yaml, .json or .graphml).")
def topology_generate(services: int, seed: int, output: Path) -> None:
    """Generate a production-shaped fleet (Alibaba-trace shape) and write it to a file."""
    from topology.generate import generate
    from topology.io import save
    if output.suffix.lower() not in (".yaml", ".yml", ".json", ".graphml"):
        raise InputError("the output must end in .yaml, .json or .graphml", source=output, field="--output")
    topo = generate(services, seed=seed)
    save(topo, output)
    err.print(f"wrote {output}: {len(topo)} services, {topo.graph.number_of_edges()} dependencies")


_GRAPH_HELP = """
    URI is a Bolt address, bolt://host:7687 (also neo4j://, bolt+s://, neo4j+s://). The
    user is --user, else NEO4J_USER, else neo4j; the password comes only from
    NEO4J_PASSWORD. The same store is a topology SOURCE anywhere a topology is read
    (show, analyze, a scenario's topology:): bolt://host:7687/FLEET[?database=DB].
    Exit 3 when the server cannot be reached or rejects the credentials.
"""


def _graph_options(fn):
    fn = click.option("--database", metavar="DB",
                      help="Database name (default: srelab; FalkorDB ignores it).")(fn)
    fn = click.option("--user", metavar="USER", help="Database user (default: NEO4J_USER, else neo4j).")(fn)
    fn = click.option("--fleet", metavar="NAME",
                      help="Fleet name in the graph (default: the URI's path; on export, else the topology's name).")(fn)
    return click.option("--neo4j", "uri", required=True, metavar="URI",
                        help="Bolt URI of the graph server, e.g. bolt://127.0.0.1:7687.")(fn)


@topology.command("export", epilog=_GRAPH_HELP)
@click.argument("source")
@_graph_options
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def topology_export(source: str, uri: str, fleet: str | None, user: str | None, database: str | None,
                    as_json: bool) -> None:
    """Write a topology into Neo4j as a fleet; re-exporting replaces it (same counts, stale parts removed)."""
    from topology.graphstore import GraphStore, parse_uri
    topo = _resolve(source)
    with GraphStore(uri, user=user, database=database) as store:
        stats = store.export(topo, fleet=fleet or parse_uri(uri).fleet or topo.name)
    if as_json:
        print_json({"fleet": stats.fleet, "uri": store.target.uri, "database": store.database,
                    "services": stats.services, "dependencies": stats.dependencies,
                    "removed_services": stats.removed_services,
                    "removed_dependencies": stats.removed_dependencies, "seconds": round(stats.seconds, 3)})
        return
    out.print(f"exported {topo.name} to {store.target.uri} as fleet {stats.fleet}: {stats.services} services, "
              f"{stats.dependencies} dependencies (removed {stats.removed_services} services, "
              f"{stats.removed_dependencies} dependencies) in {stats.seconds:.1f}s")


@topology.command("import", epilog=_GRAPH_HELP)
@_graph_options
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write (.yaml, .json or .graphml).")
def topology_import(uri: str, fleet: str | None, user: str | None, database: str | None, output: Path) -> None:
    """Read a fleet back from Neo4j and write it to a topology file."""
    from topology.graphstore import GraphStore, parse_uri
    from topology.io import save
    if output.suffix.lower() not in (".yaml", ".yml", ".json", ".graphml"):
        raise InputError("the output must end in .yaml, .json or .graphml", source=output, field="--output")
    fleet = fleet or parse_uri(uri).fleet
    if not fleet:
        raise InputError("name the fleet to import: --fleet NAME", field="--fleet")
    with GraphStore(uri, user=user, database=database) as store:
        topo = store.load(fleet)
    save(topo, output)
    err.print(f"wrote {output}: {len(topo)} services, {topo.graph.number_of_edges()} dependencies "
              f"from fleet {fleet} at {store.target.uri}")


# -- scenarios -------------------------------------------------------------------

@cli.group(context_settings=CONTEXT)
def scenarios() -> None:
    """Scenario files: list the built-ins, show one, validate files, print the JSON Schema."""


@scenarios.command("list")
def scenarios_list() -> None:
    """List the built-in scenarios."""
    from scenarios import library, load
    table = Table(title="Built-in scenarios")
    for col in ("name", "topology", "duration", "description"):
        table.add_column(col)
    for name in library():
        sc = load(name)
        table.add_row(name, sc.topology, f"{sc.duration / 3600:g}h", sc.description)
    out.print(table)


@scenarios.command("show")
@click.argument("name")
def scenarios_show(name: str) -> None:
    """Print a scenario file (a built-in name or a path)."""
    from scenarios import load
    sc = load(name)
    sys.stdout.write(Path(sc.source).read_text(encoding="utf-8"))


@scenarios.command("validate")
@click.argument("files", nargs=-1, required=True)
def scenarios_validate(files: tuple[str, ...]) -> int:
    """Check scenario files and the topologies and names they refer to."""
    from scenarios import validate_file
    failed = 0
    for f in files:
        try:
            sc, topo = validate_file(f)
        except InputError as exc:
            failed += 1
            err.print(f"[red]invalid[/] {exc}", highlight=False)
            continue
        out.print(f"[green]ok[/] {f}: {sc.name} on {topo.name} ({len(topo)} services), "
                  f"{len(sc.faults)} faults, {len(sc.slos)} SLOs, {len(sc.assertions)} assertions")
    return 2 if failed else 0


@scenarios.command("schema")
def scenarios_schema() -> None:
    """Print the JSON Schema of scenario files (generated from the models)."""
    from scenarios.schema import Scenario
    print_json(Scenario.model_json_schema(by_alias=True))


# -- run -------------------------------------------------------------------------

@cli.command(context_settings=CONTEXT)
@click.argument("scenario")
@click.option("--engine", type=click.Choice(["flow", "request"]), help="Data plane (default: the scenario's).")
@click.option("--seed", type=int, help="Random seed (default: the scenario's).")
@click.option("--duration", help="Override the simulated duration, e.g. 30m.")
@click.option("--replications", type=click.IntRange(1, 10_000), default=1, show_default=True,
              help="Independent runs; numbers become means with 95 % intervals.")
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Local processes for replications.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the result JSON to this file (- prints it instead of the summary).")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a JUnit XML report (one testcase per assertion).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write result.json, events.json, series.npz and the scenario to this folder.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the verdict line.")
def run(scenario: str, engine: str | None, seed: int | None, duration: str | None, replications: int,
        workers: int, json_path: Path | None, junit_path: Path | None, out_dir: Path | None, quiet: bool) -> int:
    """Simulate SCENARIO (a YAML file or a built-in name) and judge its assertions.

    Exit code 0 when every assertion held, 1 when one failed.
    """
    from scenarios import bind
    from sim import Simulation
    from sim.replicate import run as run_scenario
    from sim.result import write_json, write_junit
    from srelab.runview import print_summary

    from srelab.yamlio import ensure_writable

    sc = _load_scenario(scenario, duration=duration, engine=engine, seed=seed)
    topo = bind(sc)
    json_stdout = json_path is not None and str(json_path) == "-"
    for path, option in ((json_path, "--json"), (junit_path, "--junit")):
        if path is not None and str(path) != "-":
            ensure_writable(path, option)
    if out_dir is not None:
        ensure_writable(out_dir, "--out", folder=True)
    progress_cb, bar = _progress(sc.duration, quiet or json_stdout)
    details: dict | None = None
    sim = None
    try:
        if replications == 1:
            sim = Simulation(sc, topology=topo, progress=progress_cb)
            result = sim.run()
            details = sim.details()
        else:
            result = run_scenario(sc, topo, replications=replications, workers=workers, progress=progress_cb)
    finally:
        if bar is not None:
            bar.stop()
    if out_dir is not None:
        _write_run_folder(out_dir, sc, result, sim)
    if json_path is not None and not json_stdout:
        write_json(result, json_path)
    if junit_path is not None:
        write_junit(result, junit_path)
    if json_stdout:
        print_json(result)
    elif quiet:
        failed = sum(not a["passed"] for a in result["assertions"])
        out.print(f"{result['scenario']}: {'PASSED' if result['passed'] else 'FAILED'} "
                  f"({len(result['assertions']) - failed}/{len(result['assertions'])} assertions held)")
    else:
        print_summary(result, details)
    return 0 if result["passed"] else 1


def _load_scenario(scenario: str, *, duration: str | None, engine: str | None, seed: int | None):
    """A scenario by path or built-in name, with ``--duration``/``--engine``/``--seed`` applied."""
    from pydantic import ValidationError

    from scenarios import load
    from srelab.errors import ScenarioError, from_validation_error

    sc = load(scenario)
    if duration is not None or engine is not None or seed is not None:
        try:
            sc = sc.with_overrides(duration=duration, engine=engine, seed=seed)
        except ValidationError as exc:
            raise from_validation_error(exc, source="--duration/--engine/--seed", kind=ScenarioError) from None
    return sc


def _write_run_folder(out_dir: Path, sc, result: dict, sim) -> None:
    """result.json, scenario.yaml (re-runnable: overrides applied, paths absolute), and for a
    single run series.npz and events.json."""
    import json

    import yaml

    from scenarios.loader import topology_source
    from sim.result import write_json
    from srelab.yamlio import write_atomic

    out_dir.mkdir(parents=True, exist_ok=True)
    if sim is not None:
        sim.recorder.save(out_dir / "series.npz")
        write_atomic(out_dir / "events.json", json.dumps(sim.details(), indent=2) + "\n")
    else:
        err.print("note: series.npz and events.json are written for single runs; "
                  "with --replications only result.json holds the means")
    data = sc.model_dump(by_alias=True, mode="json")
    data["topology"] = topology_source(sc)
    rate = data.get("workload", {}).get("rate", {})
    if rate.get("pattern") == "replay":
        rate["file"] = str((Path(sc.base_dir) / rate["file"]).resolve())
    write_atomic(out_dir / "scenario.yaml", yaml.safe_dump(data, sort_keys=False))
    write_json(result, out_dir / "result.json")


def _progress(total: float, quiet: bool):
    """A rich progress bar on a terminal; nothing in CI logs or pipes."""
    from srelab.console import is_interactive
    if quiet or not is_interactive():
        return None, None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    bar = Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                   TimeElapsedColumn(), console=err, transient=True)
    task = bar.add_task("run", total=total)
    bar.start()
    return (lambda now: bar.update(task, completed=now)), bar


# -- capacity ------------------------------------------------------------------

@cli.group(context_settings=CONTEXT)
def capacity() -> None:
    """Autoscaling and capacity planning."""


@capacity.command("autoscalers")
@click.argument("scenario")
@click.option("--kinds", default="none,hpa,predictive", show_default=True,
              help="Autoscalers to compare, comma-separated.")
@click.option("--seed", type=int, help="Random seed (default: the scenario's).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def capacity_autoscalers(scenario: str, kinds: str, seed: int | None, as_json: bool) -> None:
    """Run SCENARIO under each autoscaler with the same load, faults and seed, and compare SLO
    attainment, budget left, replica-hours and cost."""
    from experiments.autoscalers import KINDS, compare_autoscalers
    from scenarios import bind, load

    chosen = tuple(k.strip() for k in kinds.split(",") if k.strip())
    bad = [k for k in chosen if k not in KINDS]
    if bad or not chosen:
        raise InputError(f"--kinds takes {', '.join(KINDS)}; got {kinds!r}", field="--kinds")
    sc = load(scenario)
    rows = compare_autoscalers(sc, bind(sc), chosen, seed=seed)
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{sc.name}: autoscalers compared (seed {sc.seed if seed is None else seed})")
    table.add_column("autoscaling")
    slo_names = list(rows[0]["slos"]) if rows else []
    for name in slo_names:
        table.add_column(f"{name}\nattainment / budget left", justify="right")
    for col in ("replica-hours", "cost", "replicas mean / peak", "scale ups / downs", "verdict"):
        table.add_column(col, justify="right")
    for r in rows:
        cells = [f"{r['slos'][n]['attainment']:.3%} / {r['slos'][n]['budget_remaining']:.0%}" for n in slo_names]
        table.add_row(r["autoscaling"], *cells, f"{r['replica_hours']:,.0f}", f"{r['cost']:,.2f}",
                      f"{r['mean_replicas']:.1f} / {r['peak_replicas']:.0f}", f"{r['scale_ups']} / {r['scale_downs']}",
                      "[green]passed[/]" if r["passed"] else "[red]failed[/]")
    out.print(table)


@capacity.command("plan")
@click.argument("scenario")
@click.option("--history", type=click.Path(dir_okay=False, path_type=Path),
              help="Hourly demand CSV: t (seconds) and a column per entry point, or rps. "
                   "Default: synthetic, from the scenario's workload.")
@click.option("--horizon", default="180d", show_default=True, help="How far ahead to plan, e.g. 90d.")
@click.option("--growth", type=click.FloatRange(-0.5, 1.0), default=0.03, show_default=True,
              help="Monthly growth of the synthetic history (ignored with --history).")
@click.option("--target-utilization", type=click.FloatRange(0.05, 1.0), default=None,
              help="Busy share per replica at the peak (default: the scenario's HPA target, else 0.6).")
@click.option("--no-verify", is_flag=True, help="Skip the verification runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def capacity_plan(scenario: str, history: Path | None, horizon: str, growth: float,
                  target_utilization: float | None, no_verify: bool, as_json: bool) -> int:
    """Forecast demand and plan replicas that hold every SLO at the forecast peak with one zone
    lost; verify by simulating that peak with a zone outage. Exit 1 when the plan fails it."""
    from experiments.capacity import plan_capacity
    from scenarios import bind, load
    from srelab.units import parse_duration

    try:
        days = parse_duration(horizon) / 86400.0
    except ValueError as exc:
        raise InputError(str(exc), field="--horizon") from None
    if not 1 <= days <= 3 * 365:
        raise InputError("--horizon must be between 1d and 1095d", field="--horizon")
    sc = load(scenario)
    plan = plan_capacity(sc, bind(sc), history=history, horizon_days=days, growth=growth,
                         target_utilization=target_utilization, verify=not no_verify)
    data = plan.to_dict()
    if as_json:
        print_json(data)
    else:
        _print_plan(sc.name, data)
    return 0 if no_verify or data["verification"]["planned"]["passed"] else 1


def _print_plan(name: str, d: dict[str, Any]) -> None:
    fc = Table(title=f"{name}: demand forecast, {d['horizon_days']:g} days ahead")
    for col in ("entry point", "last week's peak rps", "forecast peak rps", "MASE (held-out 2 weeks)", "sMAPE"):
        fc.add_column(col, justify="left" if col == "entry point" else "right")
    for e, f in d["entrypoints"].items():
        fc.add_row(e, f"{f['last_week_peak_rps']:,.0f}", f"{f['peak_rps']:,.0f}", f"{f['mase']:.2f}",
                   f"{f['smape']:.1f}%")
    out.print(fc)
    worse = [e for e, f in d["entrypoints"].items() if not f["mase"] < 1.0]
    if worse:
        err.print(f"[yellow]warning[/]: the forecast for {', '.join(worse)} did no better than repeating last week "
                  "on the held-out weeks (MASE >= 1); check the history before trusting the plan", markup=True)
    t = Table(title=f"replicas for the forecast peak with one zone lost (target {d['target_utilization']:.0%} busy)")
    for col in ("service", "current", "planned", "peak rps", "util at peak", "util, zone lost",
                "P(wait), zone lost", "cost / month", "over-provisioning"):
        t.add_column(col, justify="left" if col == "service" else "right")
    for n, s in d["services"].items():
        style = "bold" if s["planned"] > s["current"] else ""
        t.add_row(n, str(s["current"]), f"[{style}]{s['planned']}[/]" if style else str(s["planned"]),
                  f"{s['peak_rps']:,.0f}", f"{s['utilization_at_peak']:.0%}", f"{s['utilization_zone_lost']:.0%}",
                  f"{s['p_wait_zone_lost']:.1%}", f"{s['cost_per_month']:,.0f}", f"{s['over_provisioning']:.0%}")
    tot = d["totals"]
    t.add_row("[bold]total[/]", str(tot["current_replicas"]), str(tot["planned_replicas"]), "", "", "", "",
              f"{tot['planned_cost_per_month']:,.0f} (now {tot['current_cost_per_month']:,.0f})", "")
    out.print(t)
    for which in ("current", "planned"):
        v = d["verification"].get(which)
        if not v:
            continue
        slos = ", ".join(f"{s['name']} {s['attainment']:.3%} (target {s['target']:.1%})" for s in v["slos"])
        verdict = "[green]holds[/]" if v["passed"] else "[red]fails[/]"
        out.print(f"{which} sizing at {v['peak_rps']:,.0f} rps with {v['zone_lost'] or 'no zone'} lost: "
                  f"{verdict}: {slos}")


# -- alerts ----------------------------------------------------------------------

@cli.group(context_settings=CONTEXT)
def alerts() -> None:
    """SLO alerting: compare the strategies of a scenario's rules."""


@alerts.command("compare")
@click.argument("scenario")
@click.option("--engine", type=click.Choice(["flow", "request"]), help="Data plane (default: the scenario's).")
@click.option("--seed", type=int, help="Random seed (default: the scenario's).")
@click.option("--duration", help="Override the simulated duration, e.g. 6h.")
@click.option("--significance", type=click.FloatRange(0, 100, min_open=True), default=2.0, show_default=True,
              help="Percent of the window's budget an event must spend to be significant.")
@click.option("--merge-gap", default="5m", show_default=True,
              help="Bad stretches closer than this are one event.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def alerts_compare(scenario: str, engine: str | None, seed: int | None, duration: str | None,
                   significance: float, merge_gap: str, as_json: bool) -> None:
    """Run SCENARIO once and score each alerting rule against the simulated SLIs.

    Precision, recall, detection time and reset time per SLO and rule, as the SRE Workbook
    compares alerting strategies. An event is a stretch whose burn rate is above 1; it is
    significant when it spends at least --significance percent of the window's budget.
    """
    from scenarios import bind
    from sim import Simulation
    from sim.alertcompare import compare
    from srelab.alertview import print_comparison
    from srelab.units import parse_duration

    try:
        gap = parse_duration(merge_gap)
    except ValueError as exc:
        raise InputError(str(exc), field="--merge-gap") from None
    sc = _load_scenario(scenario, duration=duration, engine=engine, seed=seed)
    if not sc.slos:
        raise InputError("the scenario has no SLOs, so there is nothing to alert on", source=sc.source,
                         field="slos")
    progress_cb, bar = _progress(sc.duration, as_json)
    try:
        sim = Simulation(sc, topology=bind(sc), progress=progress_cb)
        sim.run()
    finally:
        if bar is not None:
            bar.stop()
    result = compare(sim, significance=significance / 100.0, merge_gap=gap)
    if as_json:
        print_json(result)
    else:
        print_comparison(result)


# -- report ----------------------------------------------------------------------

@cli.command(context_settings=CONTEXT)
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Markdown file to write (default: RUN_DIR/postmortem.md); - prints it.")
def report(run_dir: Path, output: Path | None) -> None:
    """Write a Markdown post-mortem of a run folder (from `srelab run SCENARIO --out DIR`)."""
    from srelab.report import load_run, render, write_report
    if output is not None and str(output) == "-":
        sys.stdout.write(render(load_run(run_dir)))
        return
    path = write_report(run_dir, output)
    err.print(f"wrote {path}")


# -- entry point ---------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    """Run the CLI and map every outcome to the design's exit codes."""
    try:
        rv = cli.main(args=argv, prog_name="srelab", standalone_mode=False)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except click.exceptions.Abort:
        err.print("interrupted")
        sys.exit(130)
    except click.UsageError as exc:
        exc.show()
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SrelabError as exc:
        err.print(f"[bold red]error[/]: {exc}", markup=True, highlight=False)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
