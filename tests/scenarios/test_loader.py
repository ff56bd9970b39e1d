"""Loading scenario files and binding them to their topology: every name checked, errors that name
the file, the field and (where the parser knows it) the line."""

from __future__ import annotations

import pytest
import yaml

import scenarios
from scenarios import bind, load, validate_file
from srelab.errors import InputError, ScenarioError
from topology import save

SMALL_TOPOLOGY = {
    "name": "small",
    "zones": ["zone-a", "zone-b"],
    "services": {
        "web": {"entrypoint": True, "replicas": 2},
        "api": {"replicas": 2},
        "db": {"replicas": {"zone-a": 1}},
    },
    "dependencies": [{"from": "web", "to": "api"}, {"from": "api", "to": "db"}],
}

SCENARIO = {
    "name": "small-outage",
    "topology": "small.yaml",
    "duration": "10m",
    "workload": {"entrypoints": {"web": 1.0}, "rate": {"pattern": "constant", "rps": 50}},
    "slos": [{"name": "web-availability", "service": "web", "target": 99.9}],
    "faults": [{"at": "1m", "kind": "zone-outage", "zone": "zone-a", "duration": "2m"},
               {"at": "1m", "kind": "dependency-blackhole", "from": "api", "to": "db"}],
    "assert": [{"slo": "web-availability", "min_attainment": 99}, {"service": "api", "max_error_ratio": 0.5}],
}


@pytest.fixture
def folder(tmp_path):
    from topology import from_dict
    save(from_dict(SMALL_TOPOLOGY), tmp_path / "small.yaml")
    return tmp_path


def write(folder, data, name="scenario.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_load_and_bind_a_file_with_a_topology_next_to_it(folder, monkeypatch, tmp_path_factory):
    path = write(folder, SCENARIO)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))  # resolved against the file, not the cwd
    sc, topo = validate_file(path)
    assert sc.name == "small-outage" and sc.source == str(path) and sc.base_dir == str(folder.resolve())
    assert topo.name == "small" and set(topo.services) == {"web", "api", "db"}
    assert sc.duration == 600 and sc.faults[1].source == "api"


def test_load_a_builtin_by_name():
    sc = load("steady-state")
    assert sc.name == "steady-state" and sc.topology == "online-boutique"
    assert sc.source.endswith("steady-state.yaml")


def test_json_scenario_files_work(folder):
    import json
    path = folder / "scenario.json"
    path.write_text(json.dumps(SCENARIO))
    assert validate_file(path)[0].name == "small-outage"


@pytest.mark.parametrize("change,field,needle", [
    ({"workload": {"entrypoints": {"nosuch": 1.0}}}, "workload.entrypoints.nosuch", "no service 'nosuch'"),
    ({"workload": {"entrypoints": {"api": 1.0}}}, "workload.entrypoints.api", "not an entry point"),
    ({"slos": [{"name": "x", "service": "nosuch", "target": 99}], "assert": []}, "slos[0].service", "nosuch"),
    ({"faults": [{"at": 0, "kind": "error-rate", "service": "nosuch", "rate": 0.1}]}, "faults[0].service", "nosuch"),
    ({"faults": [{"at": 0, "kind": "dependency-blackhole", "from": "web", "to": "db"}]}, "faults[0]",
     "web does not call db"),
    ({"faults": [{"at": 0, "kind": "dependency-blackhole", "from": "ghost", "to": "db"}]}, "faults[0].from", "ghost"),
    ({"faults": [{"at": 0, "kind": "zone-outage", "zone": "zone-z"}]}, "faults[0].zone", "no zone 'zone-z'"),
    ({"faults": [{"at": 0, "kind": "network-partition", "zones": ["zone-a", "zone-q"]}]}, "faults[0].zone",
     "zone-q"),
    ({"faults": [{"at": 0, "kind": "traffic-spike", "multiplier": 2, "entrypoints": ["db"]}]},
     "faults[0].entrypoints", "not an entry point"),
    ({"assert": [{"slo": "nope", "min_attainment": 99}]}, "assert[0].slo", "no SLO named 'nope'"),
    ({"assert": [{"service": "nosuch", "max_error_ratio": 0.1}]}, "assert[0].service", "nosuch"),
])
def test_bind_checks_every_name(folder, change, field, needle):
    path = write(folder, {**SCENARIO, **change})
    with pytest.raises(ScenarioError) as exc:
        validate_file(path)
    assert exc.value.source == str(path)
    assert exc.value.field == field
    assert needle in exc.value.message
    assert exc.value.exit_code == 2


def test_unknown_topology_is_a_scenario_error(folder):
    path = write(folder, {**SCENARIO, "topology": "no-such-topology"})
    with pytest.raises(ScenarioError) as exc:
        validate_file(path)
    assert str(path) in str(exc.value) and "topology" in str(exc.value)


def test_validation_errors_carry_the_yaml_line(folder):
    text = yaml.safe_dump(SCENARIO, sort_keys=False).replace("kind: zone-outage", "kind: zone-outrage")
    path = folder / "bad.yaml"
    path.write_text(text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "zone-outrage" in l)
    with pytest.raises(ScenarioError) as exc:
        load(path)
    assert f"faults[0].kind (line {line})" in str(exc.value)
    assert str(path) in str(exc.value)


def test_bind_errors_carry_the_yaml_line_too(folder):
    text = yaml.safe_dump({**SCENARIO, "faults": [{"at": 0, "kind": "error-rate", "service": "nosuch",
                                                   "rate": 0.1}]}, sort_keys=False)
    path = folder / "bad.yaml"
    path.write_text(text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "nosuch" in l)
    with pytest.raises(ScenarioError) as exc:
        validate_file(path)
    assert f"line {line}" in str(exc.value)


@pytest.mark.parametrize("text,needle", [
    ("", "empty"),
    ("- just\n- a list\n", "expected a mapping"),
    ("name: a\nname: b\ntopology: online-boutique\n", "defined twice"),
    ("name: a\ntopology: [unclosed\n", "invalid YAML at line"),
])
def test_malformed_files(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        load(path)
    assert needle in str(exc.value) and str(path) in str(exc.value)


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(ScenarioError, match="no such file"):
        load(tmp_path / "nope.yaml")
    with pytest.raises(ScenarioError) as exc:
        load("no-such-builtin")
    assert "steady-state" in str(exc.value), "the message lists the built-ins"


def test_library_has_the_issue_scenarios():
    names = set(scenarios.library())
    assert {"steady-state", "diurnal-peak", "zone-outage-at-peak", "retry-storm", "traffic-spike",
            "fleet-day"} <= names
    assert len(names) >= 6


@pytest.mark.parametrize("name", sorted(scenarios.library()))
def test_every_builtin_validates_and_is_documented_in_one_line(name):
    sc = load(name)
    assert sc.name == name, "the file name is the scenario name"
    assert sc.description and "\n" not in sc.description.strip()
    if name != "fleet-day":  # generating the 2,847-service fleet is the slow part; library tests run it
        topo = bind(sc)
        assert sc.slos and all(s.service in topo.services for s in sc.slos)
