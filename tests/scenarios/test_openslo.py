"""OpenSLO v1 SLO documents mapped onto srelab's simulated SLOs, and clear errors for shapes that
cannot be simulated."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scenarios import load
from scenarios.openslo import parse_shorthand, to_slos
from srelab.errors import ScenarioError

RATIO = """\
apiVersion: openslo/v1
kind: SLO
metadata: {name: checkout-availability}
spec:
  service: frontend
  indicator:
    metadata: {name: ok-requests}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(http_requests_total{code!~"5.."}[1m]))'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(http_requests_total[1m]))'}}}
  timeWindow:
    - {duration: 28d, isRolling: true}
  budgetingMethod: Occurrences
  objectives:
    - {displayName: internal, target: 0.999}
"""

THRESHOLD = """\
apiVersion: openslo/v1
kind: SLI
metadata: {name: latency}
spec:
  thresholdMetric:
    metricSource: {type: Prometheus, spec: {query: 'histogram_quantile(0.99, ...)'}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: checkout-latency}
spec:
  service: frontend
  indicatorRef: latency
  timeWindow:
    - duration: 1M
      isRolling: false
      calendar: {startTime: "2026-01-01 00:00:00", timeZone: UTC}
  budgetingMethod: Timeslices
  objectives:
    - {op: lte, value: 0.3, targetPercent: 99, timeSliceTarget: 0.95, timeSliceWindow: 5}
"""


def _docs(text: str) -> list:
    import yaml
    return list(yaml.safe_load_all(text))


def test_ratio_metric_maps_to_an_availability_slo():
    [slo] = to_slos(_docs(RATIO))
    assert slo == {"name": "checkout-availability", "service": "frontend", "kind": "availability",
                   "target": pytest.approx(99.9), "window": 28 * 86400.0}


def test_threshold_metric_maps_to_a_latency_slo_with_calendar_and_timeslices():
    [slo] = to_slos(_docs(THRESHOLD), overrides={"elapsed": "10d", "initial_budget_remaining": 40})
    assert slo == {"name": "checkout-latency", "service": "frontend", "kind": "latency", "threshold": 0.3,
                   "target": 99.0, "calendar": {"period": 30 * 86400.0, "elapsed": "10d"},
                   "budgeting": "timeslices", "timeslice_target": 95.0, "timeslice_window": 300.0,
                   "initial_budget_remaining": 40}


def test_several_objectives_become_several_slos():
    text = RATIO.replace("    - {displayName: internal, target: 0.999}",
                         "    - {name: internal, target: 0.999}\n    - {targetPercent: 99.5}")
    a, b = to_slos(_docs(text))
    assert (a["name"], a["target"]) == ("checkout-availability-internal", pytest.approx(99.9))
    assert (b["name"], b["target"]) == ("checkout-availability-2", 99.5)


@pytest.mark.parametrize("edit,message", [
    (("apiVersion: openslo/v1", "apiVersion: openslo/v1alpha"), "srelab reads openslo/v1"),
    (("        counter: true\n", "        raw: {metricSource: {type: X}}\n"), "raw (precomputed) ratios"),
    (("  budgetingMethod: Occurrences", "  budgetingMethod: RatioTimeslices"), "use Occurrences or Timeslices"),
    (("    - {displayName: internal, target: 0.999}", "    - {target: 99.9}"), "target is a fraction in (0, 1)"),
    (("  service: frontend\n", ""), "needs spec.service"),
    (("duration: 28d", "duration: 28 days"), "not an OpenSLO duration"),
    (("  budgetingMethod: Occurrences", "  budgetingMethod: Timeslices"), "needs timeSliceTarget"),
])
def test_unsupported_or_broken_documents_are_clear_errors(edit, message):
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        to_slos(_docs(RATIO.replace(*edit)))


@pytest.mark.parametrize("edit,message", [
    (("op: lte", "op: gt"), "use op: lt or lte"),
    (("isRolling: false", "isRolling: true"), "elapsed: places the run in a calendar window"),
    (("value: 0.3", "value: 300"), "for 300 ms write 0.3"),
    (("indicatorRef: latency", "indicatorRef: nope"), "no `kind: SLI` document named 'nope'"),
])
def test_threshold_documents_errors(edit, message):
    with pytest.raises(ScenarioError, match=message):
        to_slos(_docs(THRESHOLD.replace(*edit)), overrides={"elapsed": "1d"})


def test_shorthand_durations():
    assert [parse_shorthand(v) for v in ("5m", "1h", "28d", "4w", "1M", "1Q", "1Y")] == [
        300.0, 3600.0, 28 * 86400.0, 28 * 86400.0, 30 * 86400.0, 90 * 86400.0, 365 * 86400.0]
    assert parse_shorthand(5, minutes_if_number=True) == 300.0
    with pytest.raises(ValueError):
        parse_shorthand("0d")


def _scenario(tmp_path: Path, slos: str) -> Path:
    (tmp_path / "slo").mkdir(exist_ok=True)
    (tmp_path / "slo" / "checkout.yaml").write_text(RATIO + "---\n" + THRESHOLD)
    path = tmp_path / "s.yaml"
    path.write_text("name: openslo\ntopology: online-boutique\nduration: 10m\nslos:\n" + textwrap.indent(slos, "  "))
    return path


def test_a_scenario_reads_openslo_files_relative_to_itself(tmp_path, srelab):
    path = _scenario(tmp_path, "- {openslo: slo/checkout.yaml, elapsed: 3d}\n"
                               "- {name: cart, service: cartservice, target: 99}")
    sc = load(path)
    assert [(s.name, s.kind, s.window) for s in sc.slos] == [
        ("checkout-availability", "availability", 28 * 86400.0), ("checkout-latency", "latency", 30 * 86400.0),
        ("cart", "availability", 30 * 86400.0)]
    assert sc.slos[1].calendar.elapsed == 3 * 86400.0 and sc.slos[1].budgeting == "timeslices"
    r = srelab("run", path, "--quiet")
    assert r.code == 0, r.stderr


def test_scenario_errors_name_the_field(tmp_path, srelab):
    r = srelab("run", _scenario(tmp_path, "- {openslo: slo/missing.yaml}"), "--quiet")
    assert r.code == 2 and "slos[0].openslo" in r.err_text and "relative to the scenario file" in r.err_text
    r = srelab("run", _scenario(tmp_path, "- {openslo: slo/checkout.yaml, target: 99}"), "--quiet")
    assert r.code == 2 and "target cannot go next to openslo:" in r.err_text
    assert "Traceback" not in r.stderr
