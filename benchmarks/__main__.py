"""Run every benchmark module of this package that defines ``main()``.

    python -m benchmarks                  # all of them
    python -m benchmarks topology_bench   # only the named modules

Each module's ``main`` is called with an empty argument list (its defaults) when it
takes one. The exit code is 1 if any benchmark raised, else 0.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import time
import traceback

import benchmarks


def discover() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                  if not m.name.startswith("_") and not m.ispkg)


def run(names: list[str]) -> int:
    failed = []
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        entry = getattr(module, "main", None)
        if not callable(entry):
            continue
        print(f"=== benchmarks.{name} ===", flush=True)
        t0 = time.perf_counter()
        try:
            params = inspect.signature(entry).parameters
            rv = entry([]) if params else entry()
            if isinstance(rv, int) and rv != 0:
                failed.append(name)
        except Exception:  # report and go on with the other benchmarks
            traceback.print_exc()
            failed.append(name)
        print(f"=== benchmarks.{name}: {time.perf_counter() - t0:.1f}s ===\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    known = discover()
    unknown = [a for a in argv if a not in known]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; available: {', '.join(known)}", file=sys.stderr)
        return 2
    return run(argv or known)


if __name__ == "__main__":
    sys.exit(main())
