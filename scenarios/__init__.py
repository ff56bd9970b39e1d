"""Scenario files: schema, loader and the library of built-in scenarios."""

from scenarios.loader import bind, library, load, validate_file
from scenarios.schema import SLO, Assertion, Fault, Scenario, Workload

__all__ = ["Scenario", "Workload", "SLO", "Fault", "Assertion", "load", "bind", "library", "validate_file"]
