"""Fidelity tables: the flow engine against the request engine, and both against theory.

    python -m benchmarks.fidelity
"""

from __future__ import annotations

from sim.fidelity import CASES, TOLERANCE, compare


def main(argv: list[str] | None = None) -> int:
    print("flow vs request at the entry point (tolerances: availability "
          f"{TOLERANCE['availability'] * 100:g} pp, mean {TOLERANCE['mean']:.0%}, p99 {TOLERANCE['p99']:.0%})")
    print(f"{'case':<28} {'avail flow':>10} {'request':>9} {'diff pp':>8} {'mean flow':>10} {'request':>8} "
          f"{'err':>7} {'p99 flow':>9} {'request':>8} {'err':>7}  ok")
    for case in CASES:
        r = compare(case)
        a, m, p = r["availability"], r["mean"], r["p99"]
        print(f"{case.name:<28} {a[0]:>10.4%} {a[1]:>9.4%} {a[2] * 100:>+8.3f} {m[0]:>9.2f}ms {m[1]:>6.2f}ms "
              f"{m[2]:>+7.1%} {p[0]:>8.1f}ms {p[1]:>6.1f}ms {p[2]:>+7.1%}  {'yes' if r['within'] else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
