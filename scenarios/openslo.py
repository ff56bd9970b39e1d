"""OpenSLO v1 ``SLO`` documents in place of inline SLOs.

A scenario's ``slos`` may hold ``{openslo: path}`` (relative to the scenario file); every
``kind: SLO`` document in that file (one YAML document or several separated by ``---``)
becomes an inline SLO, one per objective:

- ``spec.service`` -> ``service`` (``service:`` next to ``openslo:`` overrides it, for
  catalog names that differ from the topology's);
- ``indicator.spec.ratioMetric`` (good/total or bad/total) -> an availability SLO;
  ``thresholdMetric`` with an objective ``op: lt | lte`` and ``value`` (seconds, the
  Prometheus unit) -> a latency SLO with that threshold;
  ``indicatorRef`` names a ``kind: SLI`` document in the same file;
- ``objectives[].target`` / ``targetPercent`` -> ``target``;
- ``timeWindow`` (``duration``, ``isRolling``, ``calendar``) -> a rolling ``window`` or a
  ``calendar`` period (``elapsed:`` next to ``openslo:`` places the run in the calendar periods);
- ``budgetingMethod`` ``Occurrences`` / ``Timeslices`` (``timeSliceTarget``,
  ``timeSliceWindow``) -> ``budgeting``.

``initial_budget_remaining:`` next to ``openslo:`` carries over too. Shapes srelab cannot
simulate (``raw`` ratios, ``gt``/``gte`` thresholds, other budgeting methods) are errors
that name the document and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from srelab.errors import ScenarioError

__all__ = ["expand", "to_slos", "parse_shorthand"]

API_VERSION = "openslo/v1"
# srelab-only keys allowed next to `openslo:` in a scenario
_EXTRA = ("service", "elapsed", "initial_budget_remaining")
_SHORTHAND = re.compile(r"^(\d+)([mhdwMQY])$")
_UNIT = {"m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0,
         "M": 30 * 86400.0, "Q": 90 * 86400.0, "Y": 365 * 86400.0}


def parse_shorthand(value: Any, *, minutes_if_number: bool = False) -> float:
    """OpenSLO's duration shorthand (``5m``, ``1h``, ``28d``, ``4w``, ``1M`` = 30 d, ``1Q`` = 90 d,
    ``1Y`` = 365 d) in seconds; a bare number is minutes where the spec says so."""
    if minutes_if_number and isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value) * 60.0
    m = _SHORTHAND.match(str(value).strip()) if isinstance(value, (str, int)) else None
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"{value!r} is not an OpenSLO duration; write a positive number and one of "
                         "m, h, d, w, M (30 days), Q (90 days), Y (365 days), e.g. 28d or 1M")
    return int(m.group(1)) * _UNIT[m.group(2)]


def expand(data: dict[str, Any], base_dir: Path, source: str | Path | None = None) -> dict[str, Any]:
    """The scenario mapping with every ``{openslo: path}`` entry of ``slos`` replaced by inline SLOs."""
    slos = data.get("slos")
    if not isinstance(slos, list) or not any(isinstance(s, dict) and "openslo" in s for s in slos):
        return data
    out: list[Any] = []
    for i, entry in enumerate(slos):
        if not (isinstance(entry, dict) and "openslo" in entry):
            out.append(entry)
            continue
        field = f"slos[{i}]"
        unknown = sorted(set(entry) - {"openslo", *_EXTRA})
        if unknown:
            raise ScenarioError(f"{', '.join(unknown)} cannot go next to openslo:; the SLO comes from the "
                                f"document (allowed alongside: {', '.join(_EXTRA)})", source=source, field=field)
        path = Path(str(entry["openslo"]))
        path = path if path.is_absolute() else base_dir / path
        out.extend(to_slos(_read(path, field, source), source=path,
                           overrides={k: entry[k] for k in _EXTRA if k in entry}))
    return {**data, "slos": out}


def _read(path: Path, field: str, scenario: str | Path | None) -> list[Any]:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except FileNotFoundError:
        raise ScenarioError(f"no OpenSLO file {path}; the path is relative to the scenario file",
                            source=scenario, field=f"{field}.openslo") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read {path}: {exc}", source=scenario, field=f"{field}.openslo") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}", source=path) from None
    flat: list[Any] = []
    for d in docs:
        flat.extend(d if isinstance(d, list) else [d])
    return flat


def to_slos(docs: list[Any], source: str | Path = "<openslo>",
            overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Inline srelab SLOs (scenario-file mappings) from OpenSLO v1 documents."""
    overrides = overrides or {}
    slis = {d.get("metadata", {}).get("name"): d for d in docs
            if isinstance(d, dict) and d.get("kind") == "SLI" and isinstance(d.get("metadata"), dict)}
    out: list[dict[str, Any]] = []
    for n, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise ScenarioError(f"document {n + 1} is not a mapping with apiVersion, kind, metadata, spec",
                                source=source)
        if doc.get("kind") != "SLO":
            continue  # SLI, Service, DataSource, AlertPolicy documents may share the file
        out.extend(_slo(doc, n, slis, source, overrides))
    if not out:
        raise ScenarioError("no `kind: SLO` document in the file; srelab reads OpenSLO v1 SLO documents",
                            source=source)
    if "elapsed" in overrides and not any("calendar" in s for s in out):
        raise ScenarioError("elapsed: places the run in a calendar window, and these SLOs have rolling windows",
                            source=source, field="spec.timeWindow")
    return out


def _slo(doc: dict[str, Any], n: int, slis: dict[str, Any], source: str | Path,
         overrides: dict[str, Any]) -> list[dict[str, Any]]:
    name = (doc.get("metadata") or {}).get("name")
    where = f"SLO {name!r}" if name else f"SLO document {n + 1}"

    def fail(field: str, message: str) -> ScenarioError:
        return ScenarioError(f"{where}: {message}", source=source, field=field)

    if doc.get("apiVersion") != API_VERSION:
        raise fail("apiVersion", f"apiVersion {doc.get('apiVersion')!r} is not supported; srelab reads "
                                 f"{API_VERSION}")
    if not name:
        raise fail("metadata.name", "needs metadata.name (the SLO's name)")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        raise fail("spec", "needs a spec mapping")
    service = overrides.get("service") or spec.get("service")
    if not service:
        raise fail("spec.service", "needs spec.service, the topology service the SLO is about "
                                   "(or service: next to openslo: in the scenario)")
    metric = _indicator(spec, slis, fail)
    base: dict[str, Any] = {"service": service, **_window(spec, overrides, fail)}
    if "initial_budget_remaining" in overrides:
        base["initial_budget_remaining"] = overrides["initial_budget_remaining"]
    method = spec.get("budgetingMethod")
    if method not in ("Occurrences", "Timeslices"):
        raise fail("spec.budgetingMethod", f"budgetingMethod {method!r} is not supported; use Occurrences "
                                           "or Timeslices")
    objectives = spec.get("objectives")
    if not isinstance(objectives, list) or not objectives:
        raise fail("spec.objectives", "needs at least one objective with a target")
    if metric == "threshold" and len(objectives) != 1:
        raise fail("spec.objectives", "a thresholdMetric SLO takes exactly one objective (OpenSLO v1)")
    out = []
    for k, obj in enumerate(objectives):
        field = f"spec.objectives[{k}]"
        if not isinstance(obj, dict):
            raise fail(field, "an objective is a mapping with target, op, value, ...")
        slo = dict(base, name=name if len(objectives) == 1 else f"{name}-{obj.get('name') or k + 1}",
                   target=_target(obj, field, fail))
        if metric == "ratio":
            slo["kind"] = "availability"
        else:
            slo.update(kind="latency", threshold=_threshold(obj, field, fail))
        if method == "Timeslices":
            if obj.get("timeSliceTarget") is None or obj.get("timeSliceWindow") is None:
                raise fail(field, "Timeslices budgeting needs timeSliceTarget (e.g. 0.95) and timeSliceWindow "
                                  "(e.g. 1m) on each objective")
            tst = obj["timeSliceTarget"]
            if not isinstance(tst, (int, float)) or isinstance(tst, bool) or not 0 < tst <= 1:
                raise fail(f"{field}.timeSliceTarget", "timeSliceTarget is a fraction in (0, 1], e.g. 0.95")
            try:
                tsw = parse_shorthand(obj["timeSliceWindow"], minutes_if_number=True)
            except ValueError as exc:
                raise fail(f"{field}.timeSliceWindow", str(exc)) from None
            slo.update(budgeting="timeslices", timeslice_target=tst * 100, timeslice_window=tsw)
        out.append(slo)
    return out


def _indicator(spec: dict[str, Any], slis: dict[str, Any], fail) -> str:
    ind = spec.get("indicator")
    if ind is None and spec.get("indicatorRef") is not None:
        ind = slis.get(spec["indicatorRef"])
        if ind is None:
            raise fail("spec.indicatorRef", f"no `kind: SLI` document named {spec['indicatorRef']!r} in the file")
    if not isinstance(ind, dict) or not isinstance(ind.get("spec"), dict):
        raise fail("spec.indicator", "needs an indicator (with spec.ratioMetric or spec.thresholdMetric) "
                                     "or an indicatorRef")
    sli = ind["spec"]
    if "ratioMetric" in sli:
        ratio = sli["ratioMetric"] or {}
        if "raw" in ratio:
            raise fail("spec.indicator.spec.ratioMetric.raw",
                       "raw (precomputed) ratios cannot be mapped onto the simulation; use good/total or bad/total")
        if "total" not in ratio or ("good" in ratio) == ("bad" in ratio):
            raise fail("spec.indicator.spec.ratioMetric", "a ratioMetric needs total and one of good or bad")
        return "ratio"
    if "thresholdMetric" in sli:
        return "threshold"
    raise fail("spec.indicator.spec", "needs ratioMetric (availability) or thresholdMetric (latency)")


def _window(spec: dict[str, Any], overrides: dict[str, Any], fail) -> dict[str, Any]:
    windows = spec.get("timeWindow")
    if windows is None:
        return {}  # srelab's default rolling 30 days
    if not isinstance(windows, list) or len(windows) != 1 or not isinstance(windows[0], dict):
        raise fail("spec.timeWindow", "timeWindow is a list with exactly one item (duration, isRolling)")
    tw = windows[0]
    try:
        duration = parse_shorthand(tw.get("duration"))
    except ValueError as exc:
        raise fail("spec.timeWindow[0].duration", str(exc)) from None
    rolling = tw.get("isRolling", "calendar" not in tw)
    if rolling:
        return {"window": duration}
    return {"calendar": {"period": duration, "elapsed": overrides.get("elapsed", 0.0)}}


def _target(obj: dict[str, Any], field: str, fail) -> float:
    if ("target" in obj) == ("targetPercent" in obj):
        raise fail(field, "give target (e.g. 0.999) or targetPercent (e.g. 99.9), one of them")
    value = obj.get("target", obj.get("targetPercent"))
    percent = "targetPercent" in obj
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise fail(field, "the target is a number")
    pct = float(value) if percent else float(value) * 100
    if not 0 < pct < 100:
        raise fail(f"{field}.{'targetPercent' if percent else 'target'}",
                   "target is a fraction in (0, 1) (targetPercent in (0, 100)), e.g. 0.999")
    return pct


def _threshold(obj: dict[str, Any], field: str, fail) -> float:
    op = obj.get("op")
    if op not in ("lt", "lte"):
        raise fail(f"{field}.op", f"op {op!r}: srelab's latency SLI counts requests faster than a threshold; "
                                  "use op: lt or lte with value in seconds")
    value = obj.get("value")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise fail(f"{field}.value", "a thresholdMetric objective needs value, the latency threshold in seconds")
    if value > 60:
        raise fail(f"{field}.value", f"value {value:g} would be a {value:g}-second latency threshold; "
                                     f"srelab reads it in seconds (Prometheus' unit): for {value:g} ms write "
                                     f"{value / 1000:g}")
    return float(value)
