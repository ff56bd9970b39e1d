"""The service graph: model, file formats, reference catalog, generator and analysis."""

from topology.catalog import builtin_names, resolve
from topology.generate import FleetShape, generate
from topology.io import from_dict, load, save, to_dict
from topology.model import CircuitBreaker, Dependency, Retries, Service, ServiceTime, Topology

__all__ = [
    "Topology", "Service", "Dependency", "ServiceTime", "Retries", "CircuitBreaker",
    "resolve", "builtin_names", "load", "save", "from_dict", "to_dict", "generate", "FleetShape",
]
