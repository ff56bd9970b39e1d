"""Generating, analysing and storing the reference fleet (2,847 services) and a 20,000-service fleet.

Every time is printed next to its ratio against a baseline measured in the same run on
the same graph, so that results compare across machines:

- ``traverse``: networkx's plain topological sort plus one breadth-first search from all
  entry points over the same DiGraph, the least work a whole-graph analysis can do;
- ``build``: networkx building a bare DiGraph (no attributes) from the same node and edge lists;
- ``naive reach``: for every entry point, ``networkx.descendants`` over the hard synchronous
  edges, the straightforward way to count the entry points each service's loss fails;
- ``json`` / ``C yaml``: ``json.dumps``/``json.loads`` of the same document, and yaml's
  libyaml-backed C loader/dumper, with no validation.

    python -m benchmarks.topology_bench [--sizes 2847,20000] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import networkx as nx
import yaml

import topology
from benchmarks._common import Row, print_table
from topology import analysis
from topology.catalog import FLEET_SEED, FLEET_SIZE



def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs (the least disturbed by the machine), and the last result."""
    times, result = [], None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def traverse(topo: topology.Topology) -> int:
    """Baseline: a topological sort and a multi-source BFS from the entry points (networkx)."""
    order = list(nx.topological_sort(topo.graph))
    reached = sum(len(layer) for layer in nx.bfs_layers(topo.graph, topo.entrypoints))
    return len(order) + reached


def naive_reach(topo: topology.Topology) -> Counter:
    """Baseline: entry points that fail per service, one networkx descendants() per entry point."""
    hard = nx.DiGraph()
    hard.add_nodes_from(topo.graph)
    hard.add_edges_from((u, v) for u, v, d in topo.graph.edges(data="dependency")
                        if d.criticality == "hard" and d.synchronous)
    counts: Counter = Counter()
    for e in topo.entrypoints:
        counts.update(nx.descendants(hard, e))
        counts[e] += 1
    return counts


def make(size: int) -> topology.Topology:
    if size == FLEET_SIZE:
        return topology.resolve("fleet-2847")
    return topology.generate(size, seed=FLEET_SEED)


def bench_size(size: int, repeat: int, yaml_max: int) -> list[Row]:
    rows: list[Row] = []
    t_gen, topo = best_of(lambda: make(size), repeat)
    g = topo.graph
    nodes, edges = list(g.nodes), list(g.edges)

    def bare() -> nx.DiGraph:
        h = nx.DiGraph()
        h.add_nodes_from(nodes)
        h.add_edges_from(edges)
        return h

    t_build, _ = best_of(bare, repeat)
    t_trav, _ = best_of(lambda: traverse(topo), max(repeat, 5))
    t_naive, naive = best_of(lambda: naive_reach(topo), repeat)

    def add(step: str, seconds: float, baseline: str, base_seconds: float, note: str = "") -> None:
        rows.append(Row(size, step, seconds, baseline, seconds / base_seconds, note))

    add("baseline: traverse", t_trav, "traverse", t_trav,
        f"{g.number_of_nodes():,} nodes, {g.number_of_edges():,} edges")
    add("baseline: build bare DiGraph", t_build, "traverse", t_trav)
    add("baseline: naive reach", t_naive, "traverse", t_trav)
    add("generate", t_gen, "build", t_build, f"{size / t_gen:,.0f} services/s")

    t, _ = best_of(lambda: analysis.graph_stats(topo), repeat)
    add("graph_stats", t, "traverse", t_trav)
    t, (names, counts) = best_of(lambda: analysis.hard_reach(topo), repeat)
    mismatched = sum(1 for n, c in zip(names, counts.tolist()) if naive.get(n, 0) != c)
    add("hard_reach", t, "naive reach", t_naive,
        "agrees with naive" if mismatched == 0 else f"DISAGREES on {mismatched} services")
    t, _ = best_of(lambda: analysis.single_points_of_failure(topo), repeat)
    add("single_points_of_failure", t, "traverse", t_trav)
    t, _ = best_of(lambda: analysis.critical_paths(topo), repeat)
    add("critical_paths", t, "traverse", t_trav)
    t, _ = best_of(lambda: analysis.retry_amplification(topo), repeat)
    add("retry_amplification", t, "traverse", t_trav)
    t, _ = best_of(lambda: [analysis.blast_radius(topo, zone=z) for z in topo.zones], repeat)
    add("blast_radius per zone", t / len(topo.zones), "traverse", t_trav)
    hot = max(g.in_degree(), key=lambda kv: kv[1])[0]
    t, br = best_of(lambda: analysis.blast_radius(topo, service=hot), repeat)
    failed = sum(1 for s in br.entrypoints.values() if s == "failed")
    add("blast_radius hottest service", t, "traverse", t_trav, f"{hot}: {failed} entry points fail")
    t, _ = best_of(lambda: analysis.analyze(topo), repeat)
    add("analyze (full report)", t, "traverse", t_trav)

    with tempfile.TemporaryDirectory() as tmp:
        doc = topology.to_dict(topo)
        t_dumps, text = best_of(lambda: json.dumps(doc, indent=2), repeat)
        t_loads, _ = best_of(lambda: json.loads(text), repeat)
        path = Path(tmp) / "fleet.json"
        t, _ = best_of(lambda: topology.save(topo, path), repeat)
        add("save json", t, "json.dumps", t_dumps, f"{path.stat().st_size / 1e6:.1f} MB")
        t, back = best_of(lambda: topology.load(path), repeat)
        add("load json (validated)", t, "json.loads", t_loads, "round trip equal" if back == topo else "DIFFERS")
        t, _ = best_of(lambda: topology.save(topo, Path(tmp) / "fleet.graphml"), 1)
        add("save graphml", t, "json.dumps", t_dumps)
        t, back = best_of(lambda: topology.load(Path(tmp) / "fleet.graphml"), 1)
        add("load graphml (validated)", t, "json.loads", t_loads, "round trip equal" if back == topo else "DIFFERS")
        if size <= yaml_max:
            ypath = Path(tmp) / "fleet.yaml"
            t_cdump, ytext = best_of(lambda: yaml.dump(doc, Dumper=yaml.CSafeDumper, sort_keys=False), 1)
            t_cload, _ = best_of(lambda: yaml.load(ytext, Loader=yaml.CSafeLoader), 1)
            t, _ = best_of(lambda: topology.save(topo, ypath), 1)
            add("save yaml", t, "C yaml dump", t_cdump)
            t, back = best_of(lambda: topology.load(ypath), 1)
            add("load yaml (validated)", t, "C yaml load", t_cload, "round trip equal" if back == topo else "DIFFERS")
    return rows


def report(rows: list[Row]) -> None:
    print_table(rows)
    sizes = sorted({r.size for r in rows})
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        pick = {(r.size, r.step): r for r in rows}
        print(f"\nscaling {small:,} -> {large:,} services ({large / small:.1f}x):")
        for step in ("baseline: traverse", "generate", "analyze (full report)", "hard_reach", "load json (validated)"):
            if (small, step) in pick and (large, step) in pick:
                grow = pick[large, step].seconds / pick[small, step].seconds
                print(f"  {step:<30} {grow:6.1f}x the time")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.topology_bench", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=f"{FLEET_SIZE},20000", help="comma-separated fleet sizes")
    ap.add_argument("--repeat", type=int, default=3, help="runs per step; the best is kept")
    ap.add_argument("--yaml-max", type=int, default=5000,
                    help="largest fleet to time YAML on (the pure-Python YAML path is slow)")
    ap.add_argument("--json", dest="json_out", type=Path, help="also write the rows as JSON to this file")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(f"topology benchmark: python {sys.version.split()[0]}, networkx {nx.__version__}; "
          f"best of {args.repeat} runs; ratios are against baselines timed in this run")
    rows: list[Row] = []
    for size in sizes:
        t0 = time.perf_counter()
        rows += bench_size(size, args.repeat if size <= 5000 else max(1, min(args.repeat, 2)), args.yaml_max)
        print(f"  ({size:,} services benchmarked in {time.perf_counter() - t0:.1f}s)", flush=True)
    report(rows)
    if args.json_out:
        args.json_out.write_text(json.dumps({"rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    bad = [r for r in rows if "DISAGREES" in r.note or "DIFFERS" in r.note]
    if bad:
        print(f"\nresult mismatch in: {', '.join(f'{r.step} ({r.size})' for r in bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
