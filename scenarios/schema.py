"""Pydantic models of the scenario file (see DESIGN.md, "Scenario file").

Parse -> defaults -> validate -> a frozen :class:`Scenario`. Durations accept
``500ms``, ``30s``, ``5m``, ``6h``, ``30d``. Percent fields (SLO ``target``,
assertion minimums) are written in percent, as in the file format.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, WithJsonSchema, model_validator

from srelab.units import parse_duration

__all__ = [
    "Duration", "RatePattern", "Workload", "SLO", "Fault", "FAULT_KINDS", "Assertion", "Policies",
    "Scenario", "ENGINES",
]

Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema({
    "anyOf": [{"type": "number", "minimum": 0, "description": "seconds"},
              {"type": "string", "pattern": r"^\s*(\d+(\.\d*)?|\.\d+)\s*(us|ms|s|m|h|d|w)\s*$",
               "description": "a duration such as 500ms, 30s, 5m, 6h, 30d"}]})]
ENGINES = ("flow", "request")


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Constant(_Spec):
    """The same rate all along."""
    pattern: Literal["constant"]
    rps: float = Field(ge=0)


class Diurnal(_Spec):
    """A sinusoid between ``base`` and ``peak``; the peak falls at ``peak_at`` within each period."""
    pattern: Literal["diurnal"]
    base: float = Field(ge=0)
    peak: float = Field(ge=0)
    period: Duration = 86400.0
    peak_at: Duration | None = None  # default: half a period


class Step(_Spec):
    """``before`` until ``at``, then ``after``."""
    pattern: Literal["step"]
    before: float = Field(ge=0)
    after: float = Field(ge=0)
    at: Duration


class Spike(_Spec):
    """``base`` with a rectangular spike to ``peak`` from ``at`` for ``duration``."""
    pattern: Literal["spike"]
    base: float = Field(ge=0)
    peak: float = Field(ge=0)
    at: Duration
    duration: Duration


class Stage(_Spec):
    duration: Duration
    rps: float = Field(ge=0)


class Stages(_Spec):
    """Locust-style stage table: each stage holds its rate for its duration; the last one persists."""
    pattern: Literal["stages"]
    stages: list[Stage] = Field(min_length=1)


class Replay(_Spec):
    """A CSV series ``t,rps`` (seconds, requests/s), interpolated linearly; relative to the scenario file."""
    pattern: Literal["replay"]
    file: str
    column: str = "rps"
    time_column: str = "t"


RatePattern = Annotated[Union[Constant, Diurnal, Step, Spike, Stages, Replay], Field(discriminator="pattern")]


class Workload(_Spec):
    entrypoints: dict[str, float] | None = None
    rate: RatePattern = Constant(pattern="constant", rps=100.0)

    @model_validator(mode="after")
    def _weights(self) -> "Workload":
        if self.entrypoints is not None:
            if not self.entrypoints or any(w < 0 for w in self.entrypoints.values()) or sum(
                    self.entrypoints.values()) <= 0:
                raise ValueError("entrypoints needs at least one positive weight, e.g. {frontend: 1.0}")
        return self


class SLO(_Spec):
    name: str
    service: str
    kind: Literal["availability", "latency"] = "availability"
    target: float = Field(gt=0, lt=100, description="percent, e.g. 99.9")
    threshold: Duration | None = None
    window: Duration = 30 * 86400.0

    @model_validator(mode="after")
    def _threshold(self) -> "SLO":
        if self.kind == "latency" and self.threshold is None:
            raise ValueError("a latency SLO needs a threshold, e.g. threshold: 300ms")
        if self.kind == "availability" and self.threshold is not None:
            raise ValueError("an availability SLO takes no threshold; use kind: latency")
        return self


FAULT_KINDS = ("kill-instances", "zone-outage", "region-outage", "latency", "error-rate",
               "dependency-blackhole", "network-partition", "cpu-throttle", "bad-deploy", "traffic-spike")

# fields each fault kind requires
_FAULT_REQUIRES: dict[str, tuple[str, ...]] = {
    "kill-instances": ("service",),
    "zone-outage": ("zone",),
    "region-outage": (),
    "latency": ("service", "delay"),
    "error-rate": ("service", "rate"),
    "dependency-blackhole": ("source", "target"),
    "network-partition": ("zones",),
    "cpu-throttle": ("service", "multiplier"),
    "bad-deploy": ("service",),
    "traffic-spike": ("multiplier",),
}


class Fault(_Spec):
    """A scheduled fault: injected ``at``, reverted after ``duration`` (or never)."""

    at: Duration
    kind: Literal["kill-instances", "zone-outage", "region-outage", "latency", "error-rate",
                  "dependency-blackhole", "network-partition", "cpu-throttle", "bad-deploy", "traffic-spike"]
    duration: Duration | None = None
    service: str | None = None
    zone: str | None = None
    zones: list[str] | None = None
    source: str | None = Field(None, alias="from")
    target: str | None = Field(None, alias="to")
    count: int | None = Field(None, ge=1)
    fraction: float | None = Field(None, gt=0, le=1)
    delay: Duration | None = None
    rate: float | None = Field(None, ge=0, le=1)
    multiplier: float | None = Field(None, gt=0)
    entrypoints: list[str] | None = None

    @model_validator(mode="after")
    def _required(self) -> "Fault":
        missing = [f for f in _FAULT_REQUIRES[self.kind] if getattr(self, f) is None]
        if missing:
            alias = {"source": "from", "target": "to"}
            names = ", ".join(alias.get(m, m) for m in missing)
            raise ValueError(f"a {self.kind} fault needs {names}")
        if self.kind == "network-partition" and len(self.zones or []) < 2:
            raise ValueError("a network-partition needs zones: [zone-a, zone-b] (two sides at least)")
        if self.kind == "bad-deploy" and self.rate is None and self.delay is None:
            raise ValueError("a bad-deploy needs rate (error ratio) or delay (added latency), or both")
        return self

    @property
    def label(self) -> str:
        target = (self.service or self.zone or (f"{self.source}->{self.target}" if self.source else None)
                  or (",".join(self.zones) if self.zones else None) or "fleet")
        return f"{self.kind}:{target}"


class Assertion(_Spec):
    """One check of the verdict. Exactly one criterion per assertion."""

    slo: str | None = None
    service: str | None = None
    min_attainment: float | None = Field(None, ge=0, le=100, description="percent")
    min_budget_remaining: float | None = Field(None, ge=-1e9, le=100, description="percent")
    max_error_ratio: float | None = Field(None, ge=0, le=1)
    max_latency: Duration | None = None
    percentile: Literal["p50", "p90", "p99", "mean"] = "p99"
    name: str | None = None

    @model_validator(mode="after")
    def _one(self) -> "Assertion":
        slo_checks = [self.min_attainment, self.min_budget_remaining]
        svc_checks = [self.max_error_ratio, self.max_latency]
        if self.slo is not None:
            if sum(c is not None for c in slo_checks) != 1 or any(c is not None for c in svc_checks):
                raise ValueError("an SLO assertion takes one of min_attainment or min_budget_remaining")
        elif self.service is not None:
            if sum(c is not None for c in svc_checks) != 1 or any(c is not None for c in slo_checks):
                raise ValueError("a service assertion takes one of max_error_ratio or max_latency")
        else:
            raise ValueError("an assertion names an slo or a service")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.slo is not None:
            if self.min_attainment is not None:
                return f"{self.slo} attainment >= {self.min_attainment:g}%"
            return f"{self.slo} budget remaining >= {self.min_budget_remaining:g}%"
        if self.max_error_ratio is not None:
            return f"{self.service} error ratio <= {self.max_error_ratio:g}"
        return f"{self.service} {self.percentile} latency <= {self.max_latency * 1e3:g}ms"


class BurnRateRule(_Spec):
    """Fire when the burn rate over both windows is at least ``burn_rate``. Without
    ``burn_rate``, it is derived from ``budget_share`` as in the SRE Workbook:
    budget share x SLO window / long window (2 % in 1 h of 30 d gives 14.4)."""

    name: str
    severity: Literal["page", "ticket"] = "page"
    long_window: Duration
    short_window: Duration
    budget_share: float | None = Field(None, gt=0, le=1)
    burn_rate: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _factor(self) -> "BurnRateRule":
        if (self.budget_share is None) == (self.burn_rate is None):
            raise ValueError("give budget_share (e.g. 0.02) or burn_rate (e.g. 14.4), not both")
        if self.short_window > self.long_window:
            raise ValueError("the short window must not be longer than the long window")
        return self

    def factor(self, slo_window: float) -> float:
        if self.burn_rate is not None:
            return self.burn_rate
        return (self.budget_share or 0.0) * slo_window / self.long_window


WORKBOOK_RULES = (
    BurnRateRule(name="page-fast", severity="page", long_window=3600.0, short_window=300.0, budget_share=0.02),
    BurnRateRule(name="page-slow", severity="page", long_window=6 * 3600.0, short_window=1800.0, budget_share=0.05),
    BurnRateRule(name="ticket", severity="ticket", long_window=3 * 86400.0, short_window=6 * 3600.0,
                 budget_share=0.10),
)


class Alerting(_Spec):
    """Multiwindow, multi-burn-rate alerts per SLO, evaluated every ``evaluation_interval``.
    The default rules are the SRE Workbook's (14.4 over 1 h and 5 m, 6 over 6 h and 30 m,
    1 over 3 d and 6 h for a 30-day window)."""

    enabled: bool = True
    evaluation_interval: Duration = 60.0
    rules: list[BurnRateRule] = Field(default_factory=lambda: list(WORKBOOK_RULES))


class ResponseTime(_Spec):
    """A responder's step time: lognormal with this median; ``sigma`` is the log-space spread
    (0 makes it exactly the median)."""
    median: Duration
    sigma: float = Field(0.5, ge=0, le=3)


class Runbook(_Spec):
    """An automated remediation: runs for ``duration``, works with ``success_probability``;
    new replicas (failover, scale-out) serve ``startup`` after it."""
    duration: Duration
    success_probability: float = Field(0.9, ge=0, le=1)
    startup: Duration = 0.0
    factor: float = Field(2.0, gt=1, le=20, description="scale-out: replicas x factor")


RUNBOOKS = ("restart", "rollback", "failover", "scale-out")
DEFAULT_RUNBOOKS = {
    "restart": Runbook(duration=120.0, success_probability=0.9),
    "rollback": Runbook(duration=300.0, success_probability=0.95),
    "failover": Runbook(duration=180.0, success_probability=0.9, startup=60.0),
    "scale-out": Runbook(duration=60.0, success_probability=0.95, startup=60.0),
}


class Automation(_Spec):
    """Automated remediation: the runbook matched to an incident's diagnosed cause runs as soon
    as the page fires (only the runbooks listed are automated; the default lists all four);
    a runbook that fails or does not stop the errors within ``verify`` pages
    the on-call human (if any)."""
    runbooks: dict[Literal["restart", "rollback", "failover", "scale-out"], Runbook] = Field(
        default_factory=lambda: dict(DEFAULT_RUNBOOKS))
    verify: Duration = 120.0

    @model_validator(mode="after")
    def _fields_fit(self) -> "Automation":
        # checked on values rather than on fields set: a run folder's scenario.yaml spells out defaults
        for name, rb in self.runbooks.items():
            if name != "scale-out" and rb.factor != Runbook.model_fields["factor"].default:
                raise ValueError(f"runbooks.{name}.factor: only scale-out takes a factor")
            if name in ("restart", "rollback") and rb.startup > 0:
                raise ValueError(f"runbooks.{name}.startup: only failover and scale-out start new replicas")
        return self


class OnCall(_Spec):
    """The on-call human: acknowledges the page, diagnoses, mitigates (the same runbook actions,
    by hand; if that does not stop the errors, fixes the cause itself). A primary who has not
    acknowledged within ``escalation_timeout`` is escalated to the secondary."""
    acknowledge: ResponseTime = ResponseTime(median=300.0, sigma=0.8)
    diagnose: ResponseTime = ResponseTime(median=900.0, sigma=0.6)
    mitigate: ResponseTime = ResponseTime(median=600.0, sigma=0.5)
    escalation_timeout: Duration = 900.0
    verify: Duration = 120.0


class IncidentResponse(_Spec):
    """Pages, correlation into incidents, and who responds. Without ``automation`` and
    ``on_call`` incidents are only recorded (they end when their faults end)."""
    correlation_window: Duration = 600.0
    lookback: Duration = 300.0
    min_error_ratio: float = Field(0.01, gt=0, le=1, description="a service is unhealthy above this")
    automation: Automation | None = None
    on_call: OnCall | None = None


class Policies(_Spec):
    """Control-plane policies. Autoscaling, budget and remediation policies plug in here as
    they are built; an unknown key is an error rather than silently ignored."""

    alerting: Alerting = Alerting()
    incident_response: IncidentResponse = IncidentResponse()


class FlowOptions(_Spec):
    """Flow-engine options.

    ``batch``: ticks solved together while the control state holds (also how often
    breakers are evaluated). ``tolerance``: a network solution is reused while the
    control state is unchanged and no service's queueing factor 1/(1 - rho) would
    move by more than this share; 0 solves every batch.
    """
    batch: int = Field(10, ge=1, le=3600)
    tolerance: float = Field(0.01, ge=0.0, le=0.5)


class Scenario(_Spec):
    name: str = Field(min_length=1)
    description: str = ""
    topology: str
    duration: Duration = 3600.0
    tick: Duration = 1.0
    engine: Literal["flow", "request"] = "flow"
    seed: int = 0
    workload: Workload = Workload()
    slos: list[SLO] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)
    policies: Policies = Policies()
    flow: FlowOptions = FlowOptions()
    assertions: list[Assertion] = Field(default_factory=list, alias="assert")
    _base_dir: str = PrivateAttr(default=".")
    _source: str = PrivateAttr(default="<scenario>")
    _lines: dict = PrivateAttr(default_factory=dict)

    @property
    def lines(self) -> dict[str, int]:
        """Field path -> line in the scenario file, where it came from a file."""
        return self._lines

    @property
    def base_dir(self) -> str:
        """Folder that relative paths in the file (topology, replay CSV) are resolved against."""
        return self._base_dir

    @property
    def source(self) -> str:
        return self._source

    @model_validator(mode="after")
    def _times(self) -> "Scenario":
        if self.tick <= 0:
            raise ValueError("tick must be above zero, e.g. 1s")
        if self.duration < self.tick:
            raise ValueError("duration must be at least one tick")
        names = [s.name for s in self.slos]
        if len(set(names)) != len(names):
            raise ValueError("SLO names must be unique")
        return self

    def with_overrides(self, **changes: Any) -> "Scenario":
        """A copy with some fields replaced (``--duration``, ``--seed``, ``--engine``), re-validated."""
        data = self.model_dump(by_alias=True)
        data.update({k: v for k, v in changes.items() if v is not None})
        out = Scenario.model_validate(data)
        out._base_dir, out._source, out._lines = self._base_dir, self._source, self._lines
        return out
