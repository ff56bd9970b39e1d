"""Bad topology input: every problem names the file, the field path and what is wrong.

The same cases run through ``topology.from_dict`` and through ``srelab topology show FILE``
(exit code 2, one message on stderr, no traceback).
"""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from srelab.errors import InputError, TopologyError
from topology import from_dict, load


def base() -> dict:
    return {
        "name": "shop",
        "zones": ["zone-a", "zone-b", "zone-c"],
        "services": {
            "frontend": {"entrypoint": True, "replicas": 3},
            "cart": {"replicas": 3, "service_time": {"mean": "5ms"}},
            "redis": {"replicas": 1, "stateful": True},
        },
        "dependencies": [
            {"from": "frontend", "to": "cart"},
            {"from": "cart", "to": "redis"},
        ],
    }


def _set(path: str, value):
    """A mutation that sets ``services.cart.timeout``-style paths (``dependencies.0.to`` for lists)."""
    def apply(d: dict) -> None:
        *parents, last = path.split(".")
        cur = d
        for p in parents:
            cur = cur[int(p)] if p.isdigit() else cur[p]
        cur[int(last) if last.isdigit() else last] = value
    return apply


def _add_dep(**dep):
    return lambda d: d["dependencies"].append(dep)


def _no_entry(d: dict) -> None:
    d["services"]["frontend"]["entrypoint"] = False


# (id, mutation, field path named in the message, what the message says)
CASES = [
    ("unknown-callee", _set("dependencies.0.to", "carts"), "dependencies[0].to", "unknown service 'carts'"),
    ("unknown-caller", _set("dependencies.1.from", "ghost"), "dependencies[1].from", "unknown service 'ghost'"),
    ("negative-replicas", _set("services.cart.replicas", -2), "services.cart.replicas", "at least 1 replica"),
    ("zero-replicas", _set("services.cart.replicas", 0), "services.cart.replicas", "at least 1 replica"),
    ("zero-replicas-map", _set("services.cart.replicas", {"zone-a": 0}), "services.cart.replicas",
     "at least 1 replica"),
    ("negative-zone-replicas", _set("services.cart.replicas", {"zone-a": 2, "zone-b": -1}),
     "services.cart.replicas", "whole numbers >= 0"),
    ("unknown-zone", _set("services.cart.replicas", {"zone-a": 2, "zone-x": 1}), "services.cart.replicas",
     "unknown zone 'zone-x'"),
    ("bad-timeout", _set("services.cart.timeout", "20 parsecs"), "services.cart.timeout",
     "'20 parsecs' is not a duration"),
    ("bad-service-time", _set("services.cart.service_time", {"mean": "20 parsecs"}),
     "services.cart.service_time.mean", "'20 parsecs' is not a duration"),
    ("zero-service-time", _set("services.cart.service_time", {"mean": "0ms"}),
     "services.cart.service_time.mean", "above zero"),
    ("bad-edge-timeout", _set("dependencies.0.timeout", "soon"), "dependencies[0].timeout",
     "'soon' is not a duration"),
    ("negative-calls", _set("dependencies.0.calls", -1), "dependencies[0].calls", "greater than 0"),
    ("bad-mode", _set("dependencies.0.mode", "sometimes"), "dependencies[0].mode", "'sequential', 'parallel'"),
    ("bad-criticality", _set("dependencies.0.criticality", "maybe"), "dependencies[0].criticality", "'hard'"),
    ("negative-retries", _set("services.cart.retries", {"attempts": -1}), "services.cart.retries.attempts",
     "greater than or equal to 0"),
    ("zero-concurrency", _set("services.cart.concurrency", 0), "services.cart.concurrency",
     "greater than or equal to 1"),
    ("duplicate-dependency", _add_dep(**{"from": "frontend", "to": "cart", "calls": 2}), "dependencies[2]",
     "frontend -> cart is declared twice"),
    ("self-dependency", _add_dep(**{"from": "cart", "to": "cart"}), "dependencies[2]",
     "'cart' depends on itself"),
    ("cycle", _add_dep(**{"from": "redis", "to": "frontend"}), "dependencies", "dependency cycle"),
    ("no-entry-point", _no_entry, "services", "no entry point"),
    ("unknown-service-field", _set("services.cart.colour", "red"), "services.cart.colour",
     "unknown field"),
    ("unknown-top-level-field", _set("owner", "team-a"), "owner", "unknown field"),
    ("unknown-dependency-field", _set("dependencies.0.weight", 3), "dependencies[0].weight",
     "unknown field"),
    ("exponential-cv", _set("services.cart.service_time", {"mean": "5ms", "distribution": "exponential", "cv": 2}),
     "services.cart.service_time", "an exponential service time has cv 1"),
    ("deterministic-cv", _set("services.cart.service_time", {"mean": "5ms", "distribution": "deterministic",
                                                             "cv": 0.5}),
     "services.cart.service_time", "a deterministic service time has cv 0"),
    ("missing-name", lambda d: d.pop("name"), "name", "required field is missing"),
    ("missing-callee", lambda d: d["dependencies"][0].pop("to"), "dependencies[0].to", "required field is missing"),
    ("duplicate-zones", _set("zones", ["zone-a", "zone-a"]), "zones", "zone names must be unique"),
    ("no-services", _set("services", {}), "services", "at least 1 item"),
]


def _bad(mutate) -> dict:
    d = copy.deepcopy(base())
    mutate(d)
    return d


def test_base_document_is_valid():
    topo = from_dict(base(), source="x.yaml")
    assert sorted(topo.services) == ["cart", "frontend", "redis"]
    assert topo.entrypoints == ["frontend"]


@pytest.mark.parametrize("mutate, field, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_from_dict_names_file_field_and_problem(mutate, field, message):
    with pytest.raises(TopologyError) as info:
        from_dict(_bad(mutate), source="x.yaml")
    text = str(info.value)
    assert text.startswith("x.yaml: "), text
    assert f"{field}" in text and message in text, text
    assert info.value.exit_code == 2
    assert isinstance(info.value, InputError)


@pytest.mark.parametrize("mutate, field, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_cli_show_rejects_with_exit_2(srelab, tmp_path, mutate, field, message):
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(_bad(mutate), sort_keys=False))
    r = srelab("topology", "show", path)
    assert r.code == 2, r
    assert str(path) in r.err_text and field in r.err_text and message in r.err_text, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stdout == ""


def _cycle_in(text: str) -> list[str]:
    m = re.search(r"dependency cycle ([^;]+);", text)
    assert m, text
    return m.group(1).split(" -> ")


def _same_cycle(named: list[str], expected: list[str]) -> bool:
    """``named`` is a closed walk a -> b -> a; accept any rotation of ``expected``."""
    if named[0] != named[-1]:
        return False
    ring = named[:-1]
    return len(ring) == len(expected) and any(ring[i:] + ring[:i] == expected for i in range(len(ring)))


def test_two_service_cycle_is_named():
    d = {"name": "t", "services": {"a": {"entrypoint": True}, "b": {}},
         "dependencies": [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]}
    with pytest.raises(TopologyError) as info:
        from_dict(d, source="x.yaml")
    assert "dependency cycle a -> b -> a" in str(info.value) or "dependency cycle b -> a -> b" in str(info.value)


def test_longer_cycle_names_every_service_on_it():
    d = copy.deepcopy(base())
    d["dependencies"].append({"from": "redis", "to": "frontend"})
    with pytest.raises(TopologyError) as info:
        from_dict(d, source="x.yaml")
    assert _same_cycle(_cycle_in(str(info.value)), ["frontend", "cart", "redis"]), str(info.value)


def test_cycle_off_the_entry_path_is_still_found():
    d = copy.deepcopy(base())
    d["services"]["x"] = {}
    d["services"]["y"] = {}
    d["dependencies"] += [{"from": "x", "to": "y"}, {"from": "y", "to": "x", "mode": "parallel"}]
    with pytest.raises(TopologyError) as info:
        from_dict(d, source="x.yaml")
    assert _same_cycle(_cycle_in(str(info.value)), ["x", "y"]), str(info.value)


DUPLICATE_SERVICES = """\
name: shop
services:
  frontend:
    entrypoint: true
  cart:
    replicas: 3
  cart:
    replicas: 6
dependencies:
  - {from: frontend, to: cart}
"""


def test_duplicate_service_names_in_yaml(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(DUPLICATE_SERVICES)
    with pytest.raises(InputError) as info:
        load(path)
    text = str(info.value)
    assert text.startswith(f"{path}: services: "), text
    assert "'cart' is defined twice (lines 5 and 7)" in text
    assert info.value.exit_code == 2


def test_duplicate_service_names_through_the_cli(srelab, tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(DUPLICATE_SERVICES)
    r = srelab("topology", "show", path)
    assert r.code == 2
    assert f"{path}: services: 'cart' is defined twice (lines 5 and 7)" in r.err_text
    assert "Traceback" not in r.stderr


def test_yaml_errors_carry_the_line_number(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text("name: shop\nservices:\n  frontend:\n    entrypoint: true\n    timeout: 20 parsecs\n")
    with pytest.raises(TopologyError) as info:
        load(path)
    assert "services.frontend.timeout (line 5): '20 parsecs' is not a duration" in str(info.value)


def test_broken_yaml_syntax_names_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: shop\nservices: {frontend: {entrypoint: true}\n")
    with pytest.raises(TopologyError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}: invalid YAML at line")


def test_not_a_mapping():
    with pytest.raises(TopologyError, match=r"^x.yaml: expected a mapping"):
        from_dict(["frontend", "cart"], source="x.yaml")


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(TopologyError, match="no such file"):
        load(tmp_path / "absent.yaml")


def _graphml(graph_data: str, node_a_data: str) -> str:
    return f"""<?xml version='1.0' encoding='utf-8'?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
<key id="r" for="node" attr.name="replicas" attr.type="string"/>
<key id="e" for="node" attr.name="entrypoint" attr.type="boolean"/>
<key id="z" for="graph" attr.name="zones" attr.type="string"/>
<graph edgedefault="directed">{graph_data}
<node id="a">{node_a_data}<data key="e">true</data></node>
<node id="b"/>
<edge source="a" target="b"/>
</graph></graphml>
"""


def test_graphml_from_another_tool_gets_defaults(tmp_path):
    path = tmp_path / "other.graphml"
    path.write_text(_graphml('<data key="z">["eu-1", "eu-2"]</data>', '<data key="r">{"eu-1": 2}</data>'))
    topo = load(path)
    assert topo.name == "other" and topo.zones == ("eu-1", "eu-2")
    assert topo.service("a").replicas == {"eu-1": 2}
    assert topo.service("b").replicas == {"eu-1": 1, "eu-2": 1}
    assert topo.dependency("a", "b").criticality == "hard"


@pytest.mark.parametrize("graph_data, node_data, field", [
    ('<data key="z">["eu-1", "eu-2"]</data>', '<data key="r">{eu-1: 2</data>', "services.a.replicas"),
    ('<data key="z">[eu-1</data>', "", "zones"),
])
def test_graphml_with_broken_json_attributes(srelab, tmp_path, graph_data, node_data, field):
    path = tmp_path / "bad.graphml"
    path.write_text(_graphml(graph_data, node_data))
    with pytest.raises(TopologyError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}: {field}: expected JSON text")
    r = srelab("topology", "show", path)
    assert r.code == 2 and f"{path}: {field}: expected JSON text" in r.err_text
    assert "Traceback" not in r.stderr


def test_duplicate_service_names_in_json(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{"name": "t", "services": {"a": {"entrypoint": true}, "b": {}, "b": {"replicas": 6}}}')
    with pytest.raises(InputError, match="'b' is defined twice"):
        load(path)
