"""Determinism: the same scenario and seed give the same result (wall clock aside), whatever the
process, the hash seed or the number of workers; another seed gives other numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from scenarios import bind, load
from sim import Simulation
from sim.replicate import run as run_replications
from sim.result import strip_wall_clock


def _storm(duration: str = "30m"):
    """retry-storm, shortened so the fault (at 15m) and its breakers are inside the run."""
    return load("retry-storm").with_overrides(duration=duration)


def _run(sc, seed=None) -> tuple[dict, Simulation]:
    sim = Simulation(sc, seed=seed)
    return sim.run(), sim


def _canon(result: dict) -> str:
    return json.dumps(strip_wall_clock(result), sort_keys=True)


@pytest.fixture(scope="module")
def storm():
    return _storm()


def test_same_seed_same_result(storm):
    a, sa = _run(storm, seed=11)
    b, sb = _run(storm, seed=11)
    assert a["wall_seconds"] > 0 and "wall_seconds" not in strip_wall_clock(a)
    assert _canon(a) == _canon(b)
    assert any(e["event"] == "breaker-open" for e in sa.events), "the run should exercise breakers"
    for attr in ("arrivals", "errors"):
        assert np.array_equal(getattr(sa.recorder, attr), getattr(sb.recorder, attr))
    assert np.array_equal(sa.recorder.latency(), sb.recorder.latency())


def test_different_seed_different_numbers(storm):
    a, _ = _run(storm, seed=11)
    b, _ = _run(storm, seed=12)
    assert a["seed"] == 11 and b["seed"] == 12
    ra, rb = a["services"]["frontend"]["requests"], b["services"]["frontend"]["requests"]
    assert ra != rb
    # ... but the same model: 800 rps for 30 minutes either way
    assert ra == pytest.approx(800 * 1800, rel=0.01) and rb == pytest.approx(800 * 1800, rel=0.01)


def test_scenario_seed_is_the_default(storm):
    a, _ = _run(storm)
    b, _ = _run(storm, seed=storm.seed)
    assert a["seed"] == storm.seed == 42
    assert _canon(a) == _canon(b)
    c, _ = _run(storm.with_overrides(seed=7))
    d, _ = _run(storm, seed=7)
    assert _canon(c) == _canon(d)


def test_replications_are_independent_of_the_number_of_workers(storm):
    sc = _storm("10m")
    topo = bind(sc)
    one = run_replications(sc, topo, seed=5, replications=4, workers=1)
    two = run_replications(sc, topo, seed=5, replications=4, workers=2)
    assert _canon(one) == _canon(two)
    assert one["replications"] == 4 and "intervals" in one
    iv = one["intervals"]["services"]["frontend"]["requests"]
    mean = one["services"]["frontend"]["requests"]
    assert iv[0] < mean < iv[1], "four different seeds give four different request counts"
    # the replications are not the single run repeated
    single = run_replications(sc, topo, seed=5, replications=1)
    assert single["services"]["frontend"]["requests"] != mean


def test_same_result_in_another_process_with_another_hash_seed(tmp_path):
    """A fresh interpreter (other PYTHONHASHSEED) reproduces the in-process result byte for byte."""
    here, _ = _run(_storm("20m"), seed=3)
    out = tmp_path / "r.json"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    p = subprocess.run([sys.executable, "-m", "srelab.cli", "run", "retry-storm", "--duration", "20m",
                        "--seed", "3", "--json", str(out), "--quiet"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode in (0, 1), p.stderr
    there = json.loads(out.read_text())
    assert _canon(there) == _canon(json.loads(json.dumps(here)))
