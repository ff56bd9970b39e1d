"""`srelab topology ...` end to end through the entry point: exit codes, stdout, stderr."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

import topology
from topology import generate, to_dict

BUILTINS = ["online-boutique", "social-network", "hotel-reservation", "fleet-2847"]

ZONED = {
    "name": "zoned",
    "services": {
        "web": {"entrypoint": True, "replicas": {"zone-a": 2, "zone-c": 2}},
        "auth": {"replicas": 3},
        "legacy": {"replicas": {"zone-a": 2}},
        "recs": {"replicas": {"zone-b": 1}},
    },
    "dependencies": [
        {"from": "web", "to": "auth"},
        {"from": "web", "to": "legacy"},
        {"from": "web", "to": "recs", "criticality": "soft"},
    ],
}


@pytest.fixture
def zoned_file(tmp_path):
    path = tmp_path / "zoned.yaml"
    path.write_text(yaml.safe_dump(ZONED, sort_keys=False))
    return path


def _python_m(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "srelab.cli", *args], capture_output=True, text=True,
                          timeout=120)


# -- through a real process --------------------------------------------------------

def test_help_exits_0_in_a_process():
    p = _python_m("topology", "--help")
    assert p.returncode == 0, p.stderr
    for sub in ("list", "show", "analyze", "generate"):
        assert sub in p.stdout


def test_bad_file_exits_2_in_a_process(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**ZONED, "dependencies": [{"from": "web", "to": "authz"}]}))
    p = _python_m("topology", "show", str(path))
    assert p.returncode == 2
    assert p.stdout == ""
    text = " ".join(p.stderr.split())
    assert f"{path}: dependencies[0].to: unknown service 'authz'" in text
    assert "Traceback" not in p.stderr


def test_analyze_json_in_a_process(zoned_file):
    p = _python_m("topology", "analyze", str(zoned_file), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["stats"]["services"] == 4


# -- in-process through srelab.cli.main -----------------------------------------------

def test_top_level_help_and_version(srelab):
    r = srelab("--help")
    assert r.code == 0 and "topology" in r.stdout
    assert srelab("-h").code == 0
    r = srelab("--version")
    assert r.code == 0 and "0.1.0" in r.stdout


@pytest.mark.parametrize("sub", ["list", "show", "analyze", "generate"])
def test_subcommand_help(srelab, sub):
    r = srelab("topology", sub, "--help")
    assert r.code == 0 and "Usage:" in r.stdout


def test_list_names_the_four_builtins(srelab):
    r = srelab("topology", "list")
    assert r.code == 0, r.stderr
    for name in BUILTINS:
        assert name in r.stdout
    assert "2847" in r.stdout


@pytest.mark.parametrize("name", BUILTINS[:3])
def test_builtin_catalog_topologies_show_and_analyze(srelab, name):
    assert topology.builtin_names() == BUILTINS
    r = srelab("topology", "show", name)
    assert r.code == 0, r.stderr
    assert r.stdout.startswith(f"{name}: ")
    r = srelab("topology", "analyze", name, "--json")
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["topology"] == name and report["stats"]["services"] >= 5


def test_analyze_reference_fleet_json(srelab):
    r = srelab("topology", "analyze", "fleet-2847", "--json")
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["topology"] == "fleet-2847"
    assert report["stats"]["services"] == 2847
    assert set(report["zone_blast_radius"]) == {"zone-a", "zone-b", "zone-c"}
    assert len(report["critical_paths"]) == len(report["retry_amplification"]) == round(2847 * 0.13)


def test_analyze_prints_a_readable_report(srelab, zoned_file):
    r = srelab("topology", "analyze", zoned_file)
    assert r.code == 0, r.stderr
    for heading in ("Single points of failure", "Zone outages", "Critical paths", "Retry amplification"):
        assert heading in r.stdout
    assert "legacy" in r.stdout


def test_analyze_service_json(srelab, zoned_file):
    r = srelab("topology", "analyze", zoned_file, "--service", "legacy", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout) == {"cause": "service legacy", "failed": ["legacy", "web"], "degraded": [],
                                    "reduced_capacity": {}, "entrypoints": {"web": "failed"},
                                    "paths": {"web": ["web", "legacy"]}}


def test_analyze_zone_json(srelab, zoned_file):
    r = srelab("topology", "analyze", zoned_file, "--zone", "zone-b", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout) == {"cause": "zone zone-b", "failed": ["recs"], "degraded": ["web"],
                                    "reduced_capacity": {"auth": 0.6667}, "entrypoints": {"web": "degraded"},
                                    "paths": {"web": ["web", "recs"]}}


def test_analyze_zone_table(srelab, zoned_file):
    r = srelab("topology", "analyze", zoned_file, "--zone", "zone-a")
    assert r.code == 0
    assert "Blast radius of zone zone-a: 2 services fail, 0 degrade, 2 lose capacity" in r.stdout
    assert "web -> legacy" in r.stdout


def test_analyze_generated_source_service(srelab):
    fleet = generate(120, seed=4)
    hot = max(fleet.graph.in_degree(), key=lambda kv: kv[1])[0]
    r = srelab("topology", "analyze", "generate:120:4", "--service", hot, "--json")
    assert r.code == 0, r.stderr
    br = json.loads(r.stdout)
    assert br["cause"] == f"service {hot}" and hot in br["failed"]
    assert set(br["entrypoints"]) == set(fleet.entrypoints)


@pytest.mark.parametrize("suffix", ["yaml", "json", "graphml"])
def test_generate_then_show(srelab, tmp_path, suffix):
    out = tmp_path / "tmp" / f"x.{suffix}"      # the folder is created
    r = srelab("topology", "generate", "-n", 200, "-s", 3, "-o", out)
    assert r.code == 0, r.stderr
    assert out.exists() and f"wrote {out}: 200 services" in r.err_text
    r = srelab("topology", "show", out)
    assert r.code == 0, r.stderr
    assert "generated-200-3: 200 services" in r.stdout
    assert "... 160 more services" in r.stdout      # 40 listed by default
    r = srelab("topology", "show", out, "--json")
    assert r.code == 0
    assert json.loads(r.stdout) == to_dict(generate(200, seed=3))


def test_generate_long_options(srelab, tmp_path):
    out = tmp_path / "f.yaml"
    assert srelab("topology", "generate", "--services", 50, "--seed", 9, "--output", out).code == 0
    assert topology.load(out) == generate(50, seed=9)


def test_show_limit_zero_lists_everything(srelab):
    r = srelab("topology", "show", "generate:60:1", "--limit", 0)
    assert r.code == 0
    assert "more services" not in r.stdout
    assert sum(1 for name in generate(60, seed=1).services if name in r.stdout) == 60


@pytest.mark.parametrize("args, says", [
    (["topology", "show", "no/such/file.yaml"], "no/such/file.yaml: no such file"),
    (["topology", "show", "online-botique"], "online-botique: unknown topology"),
    (["topology", "analyze", "generate:2"], "3 to 200000 services"),
    (["topology", "analyze", "generate:50:1", "--service", "nope"], "--service: no service 'nope'"),
    (["topology", "analyze", "generate:50:1", "--zone", "zone-q"], "--zone: no zone 'zone-q'"),
    (["topology", "analyze", "generate:50:1", "--service", "edge-00000", "--zone", "zone-a"], "not both"),
    (["topology", "generate", "-n", 2, "-o", "x.yaml"], "2 is not in the range 3<=x<=200000"),
    (["topology", "generate", "-n", 20], "Missing option '--output'"),
    (["topology", "generate", "-n", 20, "-o", "x.txt"], "--output: the output must end in .yaml, .json or .graphml"),
    (["topology", "frobnicate"], "No such command 'frobnicate'"),
    (["topology", "show"], "Missing argument 'SOURCE'"),
])
def test_bad_input_exits_2(srelab, tmp_path, monkeypatch, args, says):
    monkeypatch.chdir(tmp_path)
    r = srelab(*args)
    assert r.code == 2, r
    assert says in r.err_text, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert not (tmp_path / "x.txt").exists() and not (tmp_path / "x.yaml").exists()


def test_broken_graphml_exits_2(srelab, tmp_path):
    path = tmp_path / "broken.graphml"
    path.write_text("<graphml><graph edgedefault='directed'><node id='a'></graph>")
    r = srelab("topology", "show", path)
    assert r.code == 2
    assert f"{path}: not a readable GraphML file" in r.err_text
