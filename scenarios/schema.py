"""Pydantic models of the scenario file (see DESIGN.md, "Scenario file").

Parse -> defaults -> validate -> a frozen :class:`Scenario`. Durations accept
``500ms``, ``30s``, ``5m``, ``6h``, ``30d``. Percent fields (SLO ``target``,
assertion minimums) are written in percent, as in the file format.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, WithJsonSchema, field_validator,
                      model_validator)

from srelab.units import parse_duration

__all__ = [
    "Duration", "RatePattern", "Workload", "Calendar", "SLO", "Fault", "FAULT_KINDS", "Assertion", "Policies",
    "Autoscaling", "Behavior", "ScalingRules", "ScalingPolicy", "ScalingMetric", "Forecast",
    "Scenario", "ENGINES", "BudgetPolicy", "Deployments", "Canary", "ReleaseEffect",
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
    """Locust-style stage table: each stage holds its rate for its duration; the last one persists,
    or with ``repeat`` the table starts over (a daily profile), before the run as well as during it."""
    pattern: Literal["stages"]
    stages: list[Stage] = Field(min_length=1)
    repeat: bool = False


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


_PERIODS = {"week": 7 * 86400.0, "month": 30 * 86400.0, "quarter": 90 * 86400.0, "year": 365 * 86400.0}


def _period(value: object) -> float:
    if isinstance(value, str) and value.strip() in _PERIODS:
        return _PERIODS[value.strip()]
    try:
        return parse_duration(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a calendar period; write week, month (30d), quarter (90d), "
                         f"year (365d) or a duration such as 31d") from None


class Calendar(_Spec):
    """A calendar-aligned SLO window: the budget belongs to the current period (a week, a month, ...),
    the run starts ``elapsed`` into it, and a new period starts with a whole budget."""
    period: Annotated[float, BeforeValidator(_period)]
    elapsed: Duration = 0.0

    @model_validator(mode="after")
    def _inside(self) -> "Calendar":
        if self.period <= 0:
            raise ValueError("a calendar period must be longer than zero, e.g. period: month")
        if self.elapsed >= self.period:
            raise ValueError("elapsed is the run's start within the period: it must be shorter than the period")
        return self


class SLO(_Spec):
    name: str
    service: str
    kind: Literal["availability", "latency"] = "availability"
    target: float = Field(gt=0, lt=100, description="percent, e.g. 99.9")
    threshold: Duration | None = None
    window: Duration = 30 * 86400.0
    calendar: Calendar | None = None
    budgeting: Literal["occurrences", "timeslices"] = "occurrences"
    timeslice_window: Duration | None = None
    timeslice_target: float | None = Field(None, gt=0, le=100, description="percent of good events in a good slice")
    initial_budget_remaining: float = Field(100.0, le=100, description="percent of the window's budget left "
                                                                         "when the run starts")

    @model_validator(mode="before")
    @classmethod
    def _calendar_window(cls, data: Any) -> Any:
        # a calendar SLO's window is its period
        if isinstance(data, dict) and isinstance(data.get("calendar"), dict) and "window" not in data:
            period = data["calendar"].get("period")
            if period is not None:
                try:
                    data = {**data, "window": _period(period)}
                except ValueError:
                    pass  # reported at calendar.period
        return data

    @field_validator("target", "timeslice_target")
    @classmethod
    def _percent(cls, v: float | None) -> float | None:
        if v is not None and v <= 1:
            raise ValueError(f"targets are percent: write 99.9 for 99.9 % (got {v:g}, which would be {v:g} %)")
        return v

    @model_validator(mode="after")
    def _threshold(self) -> "SLO":
        if self.kind == "latency" and self.threshold is None:
            raise ValueError("a latency SLO needs a threshold, e.g. threshold: 300ms")
        if self.kind == "availability" and self.threshold is not None:
            raise ValueError("an availability SLO takes no threshold; use kind: latency")
        if self.window <= 0:
            raise ValueError("an SLO window must be longer than zero, e.g. window: 30d")
        if self.calendar is not None and abs(self.window - self.calendar.period) > 1e-6:
            raise ValueError("a calendar SLO's window is its period: drop window or make it equal calendar.period")
        slices = (self.timeslice_window, self.timeslice_target)
        if self.budgeting == "timeslices" and None in slices:
            raise ValueError("timeslices budgeting needs timeslice_window (e.g. 1m) and timeslice_target "
                             "(percent of good events that makes a slice good, e.g. 95)")
        if self.budgeting == "occurrences" and slices != (None, None):
            raise ValueError("timeslice_window and timeslice_target go with budgeting: timeslices")
        if self.timeslice_window is not None and not 0 < self.timeslice_window <= self.window:
            raise ValueError("timeslice_window must be above zero and within the SLO window")
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
    """An alerting rule on an SLO, one of the strategies of the SRE Workbook's "Alerting on SLOs":

    - ``multiwindow`` (default): the burn rate over both ``long_window`` and ``short_window``
      is at least ``burn_rate``; without ``burn_rate`` it derives from ``budget_share`` as in
      the Workbook: budget share x SLO window / long window (2 % in 1 h of 30 d gives 14.4);
    - ``single-window``: the burn rate over ``window`` alone (``burn_rate`` or ``budget_share``);
    - ``threshold``: the error ratio over ``window`` is at least ``error_ratio`` (default:
      the SLO's allowed ratio, 1 - target).

    ``for``: the condition must hold that long before the alert fires (Prometheus' pending state).
    """

    name: str
    kind: Literal["multiwindow", "single-window", "threshold"] = "multiwindow"
    severity: Literal["page", "ticket"] = "page"
    long_window: Duration | None = None
    short_window: Duration | None = None
    window: Duration | None = None
    budget_share: float | None = Field(None, gt=0, le=1)
    burn_rate: float | None = Field(None, gt=0)
    error_ratio: float | None = Field(None, gt=0, le=1)
    for_: Duration = Field(0.0, alias="for")

    @model_validator(mode="after")
    def _factor(self) -> "BurnRateRule":
        if self.kind == "multiwindow":
            if self.long_window is None or self.short_window is None or self.window is not None:
                raise ValueError("a multiwindow rule needs long_window and short_window (e.g. 1h and 5m); "
                                 "for one window use kind: single-window with window")
            if self.short_window > self.long_window:
                raise ValueError("the short window must not be longer than the long window")
        elif self.window is None or self.long_window is not None or self.short_window is not None:
            raise ValueError(f"a {self.kind} rule takes one window (e.g. window: 1h), "
                             "not long_window/short_window")
        if self.kind == "threshold":
            if self.budget_share is not None or self.burn_rate is not None:
                raise ValueError("a threshold rule takes error_ratio (e.g. 0.001), not burn_rate or budget_share")
        else:
            if self.error_ratio is not None:
                raise ValueError("error_ratio goes with kind: threshold; burn-rate rules take burn_rate")
            if (self.budget_share is None) == (self.burn_rate is None):
                raise ValueError("give budget_share (e.g. 0.02) or burn_rate (e.g. 14.4), not both")
        if self.windows[0] <= 0:
            raise ValueError("alert windows must be longer than zero")
        return self

    @property
    def windows(self) -> tuple[float, ...]:
        """The windows whose burn rate must all reach the threshold, longest first."""
        if self.kind == "multiwindow":
            return (float(self.long_window or 0.0), float(self.short_window or 0.0))
        return (float(self.window or 0.0),)

    def factor(self, slo_window: float, target: float | None = None) -> float:
        """The burn rate that fires the rule for an SLO with this window (seconds) and target
        (a fraction; threshold rules only)."""
        if self.kind == "threshold":
            if target is None:
                raise ValueError("a threshold rule's burn rate depends on the SLO target")
            allowed = 1 - target
            return (self.error_ratio or allowed) / allowed
        if self.burn_rate is not None:
            return self.burn_rate
        return (self.budget_share or 0.0) * slo_window / self.windows[0]


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


class ScalingPolicy(_Spec):
    """At most ``value`` pods (``Pods``) or ``value`` % of the replicas at the period's start
    (``Percent``) added or removed per ``period`` (the HPA's ``periodSeconds``)."""

    type: Literal["Pods", "Percent"]
    value: int = Field(gt=0)
    period: Duration = Field(gt=0, le=1800)


class ScalingRules(_Spec):
    """One direction of the HPA ``behavior``. Omitted fields take the HPA defaults of that direction."""

    stabilization_window: Duration | None = Field(None, ge=0, le=3600)
    select_policy: Literal["Max", "Min", "Disabled"] = "Max"
    policies: list[ScalingPolicy] | None = None


# the HPA's defaults (autoscaling/v2): up at once by 4 pods or 100 % per 15 s, whichever is more;
# down by up to 100 % per 15 s after a 300 s stabilisation window
SCALE_UP_DEFAULT = ScalingRules(stabilization_window=0.0, select_policy="Max", policies=[
    ScalingPolicy(type="Pods", value=4, period=15.0), ScalingPolicy(type="Percent", value=100, period=15.0)])
SCALE_DOWN_DEFAULT = ScalingRules(stabilization_window=300.0, select_policy="Max", policies=[
    ScalingPolicy(type="Percent", value=100, period=15.0)])


class Behavior(_Spec):
    scale_up: ScalingRules = SCALE_UP_DEFAULT
    scale_down: ScalingRules = SCALE_DOWN_DEFAULT

    @model_validator(mode="after")
    def _defaults(self) -> "Behavior":
        for name, default in (("scale_up", SCALE_UP_DEFAULT), ("scale_down", SCALE_DOWN_DEFAULT)):
            rules = getattr(self, name)
            filled = rules.model_copy(update={
                "stabilization_window": default.stabilization_window if rules.stabilization_window is None
                else rules.stabilization_window,
                "policies": default.policies if rules.policies is None else rules.policies})
            if rules.select_policy != "Disabled" and not filled.policies:
                raise ValueError(f"{name}.policies is empty; give at least one policy or select_policy: Disabled")
            object.__setattr__(self, name, filled)
        return self


class ScalingMetric(_Spec):
    """``utilization``: busy share of a replica's concurrency slots (the CPU-utilisation analogue);
    ``rps``: requests per second per replica (a Pods metric). ``target`` is the average per ready replica."""

    type: Literal["utilization", "rps"]
    target: float = Field(gt=0)

    @model_validator(mode="after")
    def _range(self) -> "ScalingMetric":
        if self.type == "utilization" and self.target > 1:
            raise ValueError("a utilization target is a share of capacity in (0, 1], e.g. 0.6")
        return self


class Forecast(_Spec):
    """Predictive scaling: Holt-Winters (statsmodels) on entry-point demand in ``step`` buckets with
    one ``season``, fitted on ``history`` of the workload before the run plus what the run observed,
    refitted every ``refit``; replicas are made ready ``buffer`` ahead of the forecast demand."""

    season: Duration = Field(86400.0, gt=0)
    history: Duration = Field(3 * 86400.0, gt=0)
    step: Duration = Field(300.0, gt=0)
    refit: Duration = Field(3600.0, gt=0)
    buffer: Duration = Field(300.0, ge=0)

    @model_validator(mode="after")
    def _seasons(self) -> "Forecast":
        if self.history < 2 * self.season:
            raise ValueError("history must cover at least two seasons (e.g. season: 24h, history: 3d)")
        if self.season / self.step < 2 or abs(self.season / self.step - round(self.season / self.step)) > 1e-9:
            raise ValueError("season must be a whole number (at least 2) of steps, e.g. season: 24h, step: 5m")
        return self


class Autoscaling(_Spec):
    """Replica autoscaling of ``services`` (default: every service): ``none``, ``hpa`` (the
    Kubernetes HorizontalPodAutoscaler's algorithm) or ``predictive`` (the HPA plus a forecast floor:
    scale out ahead of demand, never in on the forecast alone). ``min``/``max`` are per service."""

    kind: Literal["none", "hpa", "predictive"] = "hpa"
    services: list[str] | None = None
    min: int = Field(1, ge=1)
    max: int = Field(100, ge=1)
    target_utilization: float | None = Field(None, gt=0, le=1)
    metrics: list[ScalingMetric] = Field(default_factory=list)
    sync_period: Duration = Field(15.0, gt=0)
    tolerance: float = Field(0.1, ge=0, lt=1)
    startup: Duration = Field(30.0, ge=0, description="pod start-up time before a new replica serves")
    behavior: Behavior = Behavior()
    forecast: Forecast = Forecast()

    @model_validator(mode="after")
    def _metrics(self) -> "Autoscaling":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        if self.kind != "none" and self.target_utilization is None and not self.metrics:
            raise ValueError("give target_utilization (e.g. 0.6) or metrics (e.g. [{type: rps, target: 50}])")
        return self

    @property
    def scaling_metrics(self) -> list[ScalingMetric]:
        extra = [] if self.target_utilization is None else [
            ScalingMetric(type="utilization", target=self.target_utilization)]
        return extra + list(self.metrics)


class BudgetPolicy(_Spec):
    """Error budget policy: each SLO is green / yellow / red from its budget remaining
    (percent). Yellow gates releases of the SLO's service and its dependencies (canary
    required, ``release_spacing`` between releases) and scales alert thresholds by
    ``alert_factor_scale``; red freezes their releases, rolls back the last live release
    and escalates. A level steps back when the budget is ``hysteresis`` points above it."""

    enabled: bool = True
    evaluation_interval: Duration = 60.0
    yellow_below: float = Field(50.0, gt=0, lt=100, description="percent of budget remaining")
    red_below: float = Field(20.0, gt=-1e9, lt=100, description="percent of budget remaining")
    hysteresis: float = Field(5.0, ge=0, le=50, description="percentage points")
    alert_factor_scale: float = Field(0.5, gt=0, le=1)
    release_spacing: Duration = 3600.0

    @model_validator(mode="after")
    def _order(self) -> "BudgetPolicy":
        if self.yellow_below <= 1:
            raise ValueError(f"yellow_below and red_below are percent of the budget: write 50 for 50 % "
                             f"(got {self.yellow_below:g})")
        if self.red_below >= self.yellow_below:
            raise ValueError(f"red_below ({self.red_below:g}) must be below yellow_below ({self.yellow_below:g}), "
                             "e.g. yellow_below: 50, red_below: 20")
        if self.evaluation_interval <= 0:
            raise ValueError("evaluation_interval must be above zero, e.g. 1m")
        return self
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
    autoscaling: Autoscaling | None = None
    budget: BudgetPolicy | None = None
    incident_response: IncidentResponse = IncidentResponse()


class ReleaseEffect(_Spec):
    """What a bad release does to its service: an error ratio and/or added latency
    (``deployments.effect`` defaults to 5 % errors)."""
    error_rate: float = Field(0.0, ge=0, le=1)
    delay: Duration = 0.0

    @model_validator(mode="after")
    def _some(self) -> "ReleaseEffect":
        if self.error_rate <= 0 and self.delay <= 0:
            raise ValueError("a bad release needs error_rate or delay above zero, e.g. error_rate: 0.05")
        return self


class Canary(_Spec):
    """A canary takes ``fraction`` of the service's traffic for ``analysis_window``; the
    release is rolled back when its error ratio (one-sided Fisher exact test) or its
    latency (one-sided Mann-Whitney U) is higher than the baseline's at ``significance``
    (Bonferroni over the two), else promoted."""
    enabled: bool = True
    fraction: float = Field(0.05, gt=0, lt=1)
    analysis_window: Duration = 600.0
    significance: float = Field(0.01, gt=0, lt=0.5)

    @model_validator(mode="after")
    def _window(self) -> "Canary":
        if self.analysis_window <= 0:
            raise ValueError("analysis_window must be above zero, e.g. 10m")
        return self


class Deployments(_Spec):
    """A release train: ``per_day`` releases at Poisson times over ``services`` (default all),
    each bad with ``bad_release_probability``; a release rolls out in four waves over ``rollout``."""
    per_day: float = Field(gt=0, le=100000)
    services: list[str] | None = Field(None, min_length=1)
    bad_release_probability: float = Field(0.05, ge=0, le=1)
    rollout: Duration = 600.0
    effect: ReleaseEffect = ReleaseEffect(error_rate=0.05)
    canary: Canary | None = None


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
    deployments: Deployments | None = None
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
