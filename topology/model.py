"""The service graph: services, dependencies and the :class:`Topology` over a networkx DiGraph.

A service's ``timeout``, ``retries`` and ``circuit_breaker`` describe how calls
*into* that service are treated, the way a service-mesh route or destination
rule does; a dependency may override the timeout and the retries for one caller.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from srelab.units import parse_duration

__all__ = [
    "ServiceTime",
    "Retries",
    "CircuitBreaker",
    "Service",
    "Dependency",
    "Topology",
    "DEFAULT_ZONES",
    "SYNC_MODES",
]

DEFAULT_ZONES = ("zone-a", "zone-b", "zone-c")
SYNC_MODES = ("sequential", "parallel")


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _duration(cls: Any, v: Any) -> float:
    return _seconds(v)


def _seconds(v: Any) -> float:
    # "6.2ms" parses to 6.2 * 1e-3 = 0.006200000000000001; rounding off the float noise
    # (below a picosecond) makes a topology written to a file and read back compare equal.
    return round(parse_duration(v), 12)


class ServiceTime(_Spec):
    """Own processing time of one request on one replica (downstream calls excluded).

    ``cv`` is the coefficient of variation (std / mean). The distribution
    defaults to exponential when ``cv == 1``, deterministic when ``cv == 0``
    and lognormal otherwise.
    """

    mean: float = Field(0.010, description="mean service time in seconds (files: 20ms)")
    cv: float = Field(1.0, ge=0.0, le=20.0, description="coefficient of variation")
    distribution: Literal["exponential", "deterministic", "lognormal", "gamma"] | None = None

    _norm_mean = field_validator("mean", mode="before")(_duration)

    @field_validator("mean")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("the mean service time must be above zero, e.g. 5ms")
        return v

    @model_validator(mode="after")
    def _fill_distribution(self) -> "ServiceTime":
        if self.distribution is None:
            kind = "exponential" if self.cv == 1.0 else "deterministic" if self.cv == 0 else "lognormal"
            object.__setattr__(self, "distribution", kind)
        elif self.distribution == "exponential" and self.cv != 1.0:
            raise ValueError("an exponential service time has cv 1; drop cv or pick lognormal/gamma")
        elif self.distribution == "deterministic" and self.cv != 0.0:
            if "cv" in self.model_fields_set:
                raise ValueError("a deterministic service time has cv 0; drop cv or pick lognormal/gamma")
            object.__setattr__(self, "cv", 0.0)
        return self

    @property
    def scv(self) -> float:
        """Squared coefficient of variation, the input of queueing approximations."""
        return self.cv * self.cv


class Retries(_Spec):
    """Retries a caller makes on calls into a service: ``attempts`` extra tries after the first."""

    attempts: int = Field(0, ge=0, le=10)
    backoff: float = Field(0.025, description="wait before each retry, seconds (files: 50ms)")

    _norm_backoff = field_validator("backoff", mode="before")(_duration)


class CircuitBreaker(_Spec):
    """Opens when the error ratio over ``window`` exceeds ``error_threshold``; stays open ``open_for``."""

    error_threshold: float = Field(0.5, gt=0.0, le=1.0)
    window: float = 10.0
    open_for: float = 30.0
    min_requests: int = Field(20, ge=1, description="calls in the window before the breaker may trip")

    _norm = field_validator("window", "open_for", mode="before")(_duration)


class Service(_Spec):
    """One service of the fleet, as deployed."""

    name: str
    entrypoint: bool = False
    replicas: dict[str, int]
    concurrency: int = Field(4, ge=1, le=100_000)
    service_time: ServiceTime = ServiceTime()
    timeout: float = 1.0
    retries: Retries = Retries()
    circuit_breaker: CircuitBreaker | None = None
    stateful: bool = False
    cost_per_replica_hour: float = Field(0.05, ge=0.0)
    queue_limit: int = Field(100, ge=0, description="queued requests per replica before overload rejection")

    _norm_timeout = field_validator("timeout", mode="before")(_duration)

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("a timeout must be above zero, e.g. 1s")
        return v

    @property
    def total_replicas(self) -> int:
        return sum(self.replicas.values())

    @property
    def zones(self) -> tuple[str, ...]:
        """Zones where this service has at least one replica."""
        return tuple(z for z, n in self.replicas.items() if n > 0)


class Dependency(_Spec):
    """``source`` calls ``target`` ``calls`` times per request on average."""

    source: str = Field(alias="from")
    target: str = Field(alias="to")
    calls: float = Field(1.0, gt=0.0, le=1000.0)
    mode: Literal["sequential", "parallel", "async"] = "sequential"
    criticality: Literal["hard", "soft"] = "hard"
    timeout: float | None = None
    retries: Retries | None = None

    @field_validator("timeout", mode="before")
    @classmethod
    def _norm_timeout(cls, v: Any) -> float | None:
        return None if v is None else _seconds(v)

    @property
    def synchronous(self) -> bool:
        return self.mode in SYNC_MODES


class Topology:
    """A validated service graph.

    ``graph`` is a :class:`networkx.DiGraph` whose nodes carry ``service``
    (:class:`Service`) and whose edges ``source -> target`` carry
    ``dependency`` (:class:`Dependency`). Build one with
    :func:`topology.io.from_dict` or :func:`topology.resolve`.
    """

    def __init__(self, name: str, zones: tuple[str, ...], graph: nx.DiGraph,
                 description: str = "", metadata: dict[str, Any] | None = None) -> None:
        self.name = name
        self.zones = tuple(zones)
        self.graph = graph
        self.description = description
        self.metadata = dict(metadata or {})

    # -- access -------------------------------------------------------------
    @property
    def services(self) -> dict[str, Service]:
        return {n: d["service"] for n, d in self.graph.nodes(data=True)}

    def service(self, name: str) -> Service:
        return self.graph.nodes[name]["service"]

    @property
    def dependencies(self) -> list[Dependency]:
        return [d["dependency"] for _, _, d in self.graph.edges(data=True)]

    def dependency(self, source: str, target: str) -> Dependency:
        return self.graph.edges[source, target]["dependency"]

    @property
    def entrypoints(self) -> list[str]:
        return [n for n, s in self.services.items() if s.entrypoint]

    def callees(self, name: str) -> Iterator[Dependency]:
        for _, _, d in self.graph.out_edges(name, data=True):
            yield d["dependency"]

    def effective_timeout(self, dep: Dependency) -> float:
        return dep.timeout if dep.timeout is not None else self.service(dep.target).timeout

    def effective_retries(self, dep: Dependency) -> Retries:
        return dep.retries if dep.retries is not None else self.service(dep.target).retries

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __repr__(self) -> str:
        return (f"Topology({self.name!r}, services={self.graph.number_of_nodes()}, "
                f"dependencies={self.graph.number_of_edges()}, zones={list(self.zones)})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Topology):
            return NotImplemented
        return (self.name == other.name and self.zones == other.zones
                and self.services == other.services
                and sorted(self.dependencies, key=_dep_key) == sorted(other.dependencies, key=_dep_key))

    __hash__ = None  # type: ignore[assignment]


def _dep_key(d: Dependency) -> tuple[str, str]:
    return (d.source, d.target)


def spread_replicas(total: int, zones: tuple[str, ...]) -> dict[str, int]:
    """Spread ``total`` replicas evenly over ``zones``; the first zones take the remainder."""
    base, extra = divmod(total, len(zones))
    return {z: base + (1 if i < extra else 0) for i, z in enumerate(zones)}


def ceil_div(a: float, b: float) -> int:
    return int(math.ceil(a / b - 1e-12))
