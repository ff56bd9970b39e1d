"""The scenario models: defaults, durations, per-kind fault rules, assertions, immutability, JSON Schema."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from scenarios.schema import FAULT_KINDS, Assertion, Fault, Scenario

BASE = {"name": "s", "topology": "online-boutique"}


def sc(**fields) -> Scenario:
    return Scenario.model_validate({**BASE, **fields})


def _errors(exc: ValidationError) -> list[tuple[str, str]]:
    from srelab.errors import format_loc
    return [(format_loc([p for p in e["loc"] if not str(p).startswith("function-")]), e["msg"]) for e in exc.errors()]


def test_defaults():
    s = sc()
    assert (s.duration, s.tick, s.engine, s.seed) == (3600.0, 1.0, "flow", 0)
    assert s.workload.entrypoints is None and s.workload.rate.pattern == "constant" and s.workload.rate.rps == 100
    assert s.slos == [] and s.faults == [] and s.assertions == []
    assert (s.flow.batch, s.flow.tolerance) == (10, 0.01)
    assert s.description == ""


@pytest.mark.parametrize("text,seconds", [("500ms", 0.5), ("30s", 30), ("5m", 300), ("6h", 21600),
                                          ("30d", 2592000), ("1.5h", 5400), (90, 90), (2.5, 2.5)])
def test_durations(text, seconds):
    assert sc(duration=text, tick="100ms").duration == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5 minutes", "5", "-5m", "5x", "", "m5", True])
def test_bad_durations_name_the_field(text):
    with pytest.raises(ValidationError) as exc:
        sc(duration=text)
    assert _errors(exc.value)[0][0] == "duration"


@pytest.mark.parametrize("fields,where", [
    ({"duration": "500ms", "tick": "1s"}, "at least one tick"),
    ({"tick": "0s"}, "tick must be above zero"),
    ({"slos": [{"name": "a", "service": "x", "target": 99}, {"name": "a", "service": "y", "target": 99}]},
     "unique"),
    ({"engine": "warp"}, "engine"),
    ({"name": ""}, "name"),
])
def test_scenario_level_rules(fields, where):
    with pytest.raises(ValidationError) as exc:
        sc(**fields)
    assert where in str(exc.value)


def test_name_and_topology_are_required():
    with pytest.raises(ValidationError) as exc:
        Scenario.model_validate({})
    assert {loc for loc, _ in _errors(exc.value)} == {"name", "topology"}


@pytest.mark.parametrize("path,data", [
    ("colour", {"colour": "red"}),
    ("workload.burst", {"workload": {"burst": 1}}),
    ("slos[0].owner", {"slos": [{"name": "a", "service": "x", "target": 99, "owner": "me"}]}),
    ("faults[0].severity", {"faults": [{"at": "1m", "kind": "region-outage", "severity": 3}]}),
    ("flow.speed", {"flow": {"speed": 2}}),
    ("policies.autoscale", {"policies": {"autoscale": {}}}),
])
def test_unknown_keys_are_errors_at_every_level(path, data):
    with pytest.raises(ValidationError) as exc:
        sc(**data)
    assert (path, "Extra inputs are not permitted") in _errors(exc.value)


@pytest.mark.parametrize("target", [0, 100, 150, -1])
def test_slo_target_is_a_percent_strictly_between_0_and_100(target):
    with pytest.raises(ValidationError) as exc:
        sc(slos=[{"name": "a", "service": "x", "target": target}])
    assert _errors(exc.value)[0][0] == "slos[0].target"


@pytest.mark.parametrize("target", [0.999, 0.5, 1])
def test_a_fraction_where_a_percent_belongs_is_caught(target):
    with pytest.raises(ValidationError, match="targets are percent: write 99.9") as exc:
        sc(slos=[{"name": "a", "service": "x", "target": target}])
    assert _errors(exc.value)[0][0] == "slos[0].target"


def test_budget_policy_thresholds_are_percent():
    with pytest.raises(ValidationError, match="write 50 for 50 %"):
        sc(policies={"budget": {"yellow_below": 0.5, "red_below": 0.2}})


def test_latency_slo_needs_a_threshold_and_availability_takes_none():
    with pytest.raises(ValidationError, match="needs a threshold"):
        sc(slos=[{"name": "a", "service": "x", "kind": "latency", "target": 99}])
    with pytest.raises(ValidationError, match="takes no threshold"):
        sc(slos=[{"name": "a", "service": "x", "target": 99, "threshold": "1s"}])
    s = sc(slos=[{"name": "a", "service": "x", "kind": "latency", "target": 99, "threshold": "300ms"}])
    assert s.slos[0].threshold == pytest.approx(0.3) and s.slos[0].window == 30 * 86400


MINIMAL = {
    "kill-instances": {"service": "x"},
    "zone-outage": {"zone": "zone-a"},
    "region-outage": {},
    "latency": {"service": "x", "delay": "100ms"},
    "error-rate": {"service": "x", "rate": 0.1},
    "dependency-blackhole": {"from": "a", "to": "b"},
    "network-partition": {"zones": ["zone-a", "zone-b"]},
    "cpu-throttle": {"service": "x", "multiplier": 3},
    "bad-deploy": {"service": "x", "rate": 0.2},
    "traffic-spike": {"multiplier": 2},
}


def test_the_catalogue_is_the_design_list():
    assert FAULT_KINDS == ("kill-instances", "zone-outage", "region-outage", "latency", "error-rate",
                           "dependency-blackhole", "network-partition", "cpu-throttle", "bad-deploy",
                           "traffic-spike")
    assert set(MINIMAL) == set(FAULT_KINDS)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_with_its_required_fields(kind):
    f = Fault.model_validate({"at": "1m", "kind": kind, "duration": "5m", **MINIMAL[kind]})
    assert f.at == 60 and f.duration == 300 and f.kind == kind
    assert f.label.startswith(kind + ":")


@pytest.mark.parametrize("kind,field", [(k, f) for k, fields in MINIMAL.items() for f in fields])
def test_each_fault_kind_rejects_a_missing_required_field(kind, field):
    data = {"at": "1m", "kind": kind, **{k: v for k, v in MINIMAL[kind].items() if k != field}}
    with pytest.raises(ValidationError) as exc:
        sc(faults=[data])
    assert _errors(exc.value)[0][0] == "faults[0]"
    assert field in str(exc.value) or kind in ("network-partition", "bad-deploy")


@pytest.mark.parametrize("data,needle", [
    ({"kind": "network-partition", "zones": ["zone-a"]}, "two sides"),
    ({"kind": "bad-deploy", "service": "x"}, "rate"),
    ({"kind": "error-rate", "service": "x", "rate": 1.5}, "rate"),
    ({"kind": "latency", "service": "x", "delay": "1s", "fraction": 0}, "fraction"),
    ({"kind": "kill-instances", "service": "x", "count": 0}, "count"),
    ({"kind": "traffic-spike", "multiplier": 0}, "multiplier"),
    ({"kind": "meteor-strike"}, "kind"),
])
def test_fault_field_rules(data, needle):
    with pytest.raises(ValidationError) as exc:
        sc(faults=[{"at": "1m", **data}])
    assert needle in str(exc.value)


def test_blackhole_label_uses_from_and_to():
    f = Fault.model_validate({"at": 0, "kind": "dependency-blackhole", "from": "a", "to": "b"})
    assert (f.source, f.target, f.label) == ("a", "b", "dependency-blackhole:a->b")


@pytest.mark.parametrize("data", [
    {"slo": "a"},
    {"slo": "a", "min_attainment": 99, "min_budget_remaining": 10},
    {"slo": "a", "max_error_ratio": 0.1},
    {"service": "x"},
    {"service": "x", "max_error_ratio": 0.1, "max_latency": "1s"},
    {"service": "x", "min_attainment": 99},
    {"min_attainment": 99},
    {"service": "x", "max_latency": "1s", "percentile": "p95"},
])
def test_an_assertion_checks_exactly_one_thing(data):
    with pytest.raises(ValidationError):
        Assertion.model_validate(data)


def test_assertions_are_read_from_the_assert_key():
    s = sc(**{"assert": [{"service": "x", "max_error_ratio": 0.01}]})
    assert s.assertions[0].max_error_ratio == 0.01
    assert "assert" in s.model_dump(by_alias=True)


def test_scenarios_are_frozen():
    s = sc()
    with pytest.raises(ValidationError):
        s.duration = 5.0
    with pytest.raises(ValidationError):
        s.workload.rate = None


def test_with_overrides_revalidates_and_keeps_the_source():
    s = sc(duration="1h")
    s._base_dir, s._source = "/somewhere", "/somewhere/s.yaml"
    t = s.with_overrides(duration="2m", seed=9, engine=None)
    assert (t.duration, t.seed, t.engine) == (120.0, 9, "flow")
    assert (t.base_dir, t.source) == ("/somewhere", "/somewhere/s.yaml")
    assert s.duration == 3600.0
    with pytest.raises(ValidationError):
        s.with_overrides(duration="2 minutes")


def test_rate_patterns_are_a_discriminated_union():
    for rate in ({"pattern": "constant", "rps": 1}, {"pattern": "diurnal", "base": 1, "peak": 2},
                 {"pattern": "step", "before": 1, "after": 2, "at": "1m"},
                 {"pattern": "spike", "base": 1, "peak": 9, "at": "1m", "duration": "1m"},
                 {"pattern": "stages", "stages": [{"duration": "1m", "rps": 5}]},
                 {"pattern": "replay", "file": "x.csv"}):
        assert sc(workload={"rate": rate}).workload.rate.pattern == rate["pattern"]
    with pytest.raises(ValidationError):
        sc(workload={"rate": {"pattern": "stages", "stages": []}})
    with pytest.raises(ValidationError):
        sc(workload={"rate": {"pattern": "constant", "rps": -1}})
    with pytest.raises(ValidationError, match="positive weight"):
        sc(workload={"entrypoints": {"frontend": 0}})


def test_json_schema_is_generated_from_the_models():
    schema = Scenario.model_json_schema(by_alias=True)
    json.dumps(schema)
    assert {"name", "topology", "duration", "tick", "engine", "seed", "workload", "slos", "faults", "policies",
            "assert"} <= set(schema["properties"])
    assert set(schema["required"]) == {"name", "topology"}
    text = json.dumps(schema)
    for kind in FAULT_KINDS:
        assert kind in text
