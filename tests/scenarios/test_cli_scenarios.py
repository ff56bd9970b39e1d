"""`srelab scenarios list | show | validate | schema`, and bad scenario files through both
`srelab scenarios validate FILE` and `srelab run FILE`: exit 2, the file and the field path on
stderr, never a traceback."""

from __future__ import annotations

import json

import pytest
import yaml

import scenarios

GOOD = """\
name: base
topology: online-boutique
duration: 5m
workload:
  rate: {pattern: constant, rps: 100}
slos:
  - {name: fa, service: frontend, kind: availability, target: 99.9}
faults:
  - {at: 1m, kind: latency, service: cartservice, delay: 100ms, duration: 1m}
assert:
  - {slo: fa, min_attainment: 99}
"""

# name -> (edit of GOOD, what stderr must name)
BAD = {
    "fault-kind": (("kind: latency", "kind: latencyy"), ["faults[0].kind", "line 9", "error-rate"]),
    "slo-target": (("target: 99.9", "target: 150"), ["slos[0].target", "line 7", "100"]),
    "unknown-service": (("service: cartservice", "service: nosuch"), ["faults[0].service", "'nosuch'"]),
    "duration": (("duration: 5m", "duration: 5 minutes"), ["duration", "line 3", "'5 minutes'", "500ms"]),
    "top-level-key": (("duration: 5m", "duration: 5m\ncolour: red"), ["colour", "line 4", "unknown field"]),
    "yaml-syntax": (("rps: 100}", "rps: 100"), ["invalid YAML", "line 6"]),
    "rate-pattern": (("pattern: constant", "pattern: sawtooth"), ["workload.rate", "sawtooth", "constant"]),
    "fault-needs": ((", delay: 100ms", ""), ["faults[0]", "needs delay"]),
    "assert-slo": (("slo: fa, min", "slo: nope, min"), ["assert[0].slo", "'nope'"]),
    "topology": (("topology: online-boutique", "topology: no-such-topology"), ["topology", "unknown topology"]),
    "zone": (("kind: latency, service: cartservice, delay: 100ms", "kind: zone-outage, zone: zone-q"),
             ["faults[0].zone", "zone-q"]),
    "duplicate-key": (("duration: 5m", "duration: 5m\nduration: 6m"), ["'duration' is defined twice", "lines 3 and 4"]),
}

COMMANDS = {"validate": ("scenarios", "validate"), "run": ("run",)}


@pytest.fixture
def bad_file(tmp_path):
    def make(case: str):
        (old, new), _ = BAD[case]
        assert old in GOOD
        path = tmp_path / f"{case}.yaml"
        path.write_text(GOOD.replace(old, new, 1))
        return path
    return make


def test_the_good_file_is_good(srelab, tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    res = srelab("scenarios", "validate", path)
    assert res.code == 0, res.stderr
    assert "ok" in res.stdout and "base on online-boutique" in res.stdout
    assert srelab("run", path, "--quiet").code == 0


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(BAD))
def test_bad_file_exits_2_naming_file_and_field(srelab, bad_file, command, case):
    path = bad_file(case)
    res = srelab(*COMMANDS[command], path)
    assert res.code == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    assert str(path) in res.err_text
    for needle in BAD[case][1]:
        assert needle in res.err_text, (needle, res.err_text)
    if command == "run":
        assert res.stdout == ""


def test_unknown_rate_pattern_names_the_pattern_field(srelab, bad_file):
    res = srelab("scenarios", "validate", bad_file("rate-pattern"))
    assert "workload.rate.pattern" in res.err_text


def test_validate_several_files_reports_each(srelab, tmp_path, bad_file):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    bad = bad_file("slo-target")
    res = srelab("scenarios", "validate", good, bad)
    assert res.code == 2
    assert "ok" in res.stdout and str(good) in res.stdout
    assert str(bad) in res.err_text and "slos[0].target" in res.err_text


def test_validate_missing_file(srelab, tmp_path):
    res = srelab("scenarios", "validate", tmp_path / "nope.yaml")
    assert res.code == 2 and "no such file" in res.err_text and "Traceback" not in res.stderr


def test_run_bad_duration_option(srelab, tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    res = srelab("run", path, "--duration", "2 minutes")
    assert res.code == 2 and "--duration" in res.err_text and "'2 minutes'" in res.err_text
    assert "Traceback" not in res.stderr


def test_run_unknown_scenario_name(srelab):
    res = srelab("run", "no-such-scenario")
    assert res.code == 2 and "no-such-scenario" in res.err_text and "steady-state" in res.err_text


def test_list_names_every_builtin(srelab):
    res = srelab("scenarios", "list")
    assert res.code == 0
    flat = " ".join(res.stdout.split())
    for name in scenarios.library():
        assert name in flat, name
    assert "online-boutique" in flat and "fleet-2847" in flat


def test_schema_is_json_schema(srelab):
    res = srelab("scenarios", "schema")
    assert res.code == 0
    schema = json.loads(res.stdout)
    assert "properties" in schema and {"name", "topology", "faults", "slos", "assert"} <= set(schema["properties"])
    assert schema.get("type") == "object" and "$defs" in schema


def _types(prop: dict) -> set[str]:
    out = {prop["type"]} if "type" in prop else set()
    for alt in prop.get("anyOf", []):
        out |= _types(alt)
    return out


def test_schema_accepts_durations_as_written_in_files(srelab):
    schema = json.loads(srelab("scenarios", "schema").stdout)
    defs = schema["$defs"]
    for where, prop in [("duration", schema["properties"]["duration"]), ("tick", schema["properties"]["tick"]),
                        ("faults[].at", defs["Fault"]["properties"]["at"]),
                        ("slos[].window", defs["SLO"]["properties"]["window"])]:
        assert "string" in _types(prop), f"{where}: {prop}"


def test_show_prints_the_yaml(srelab):
    res = srelab("scenarios", "show", "steady-state")
    assert res.code == 0
    assert res.stdout == scenarios.library()["steady-state"].read_text()
    data = yaml.safe_load(res.stdout)
    assert data["name"] == "steady-state" and data["topology"] == "online-boutique"


def test_show_a_path_and_an_unknown_name(srelab, tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    assert srelab("scenarios", "show", path).stdout == GOOD
    res = srelab("scenarios", "show", "nope")
    assert res.code == 2 and "nope" in res.err_text
