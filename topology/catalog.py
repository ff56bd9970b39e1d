"""Built-in reference topologies and :func:`resolve` for every way a topology can be named."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from srelab.errors import TopologyError
from topology.generate import generate
from topology.io import load
from topology.model import Topology

__all__ = ["BUILTIN", "FLEET_SIZE", "FLEET_SEED", "builtin_names", "describe_builtin", "resolve"]

FLEET_SIZE = 2847
FLEET_SEED = 2847

# name -> (description, file in topology/catalog or None for generated)
BUILTIN: dict[str, tuple[str, str | None]] = {
    "online-boutique": ("Google's Online Boutique: 10 microservices and the cart's Redis", "online-boutique.yaml"),
    "social-network": ("DeathStarBench social network: logic services, caches and databases", "social-network.yaml"),
    "hotel-reservation": ("DeathStarBench hotel reservation: search, rates, profiles, bookings", "hotel-reservation.yaml"),
    "fleet-2847": ("Reference fleet: 2,847 services over 3 zones, shaped like Alibaba's call graphs", None),
}

_GENERATE = re.compile(r"^generate:(\d+)(?::(\d+))?$")


def builtin_names() -> list[str]:
    return list(BUILTIN)


def describe_builtin(name: str) -> str:
    return BUILTIN[name][0]


def _catalog_path(filename: str) -> Path:
    return Path(str(resources.files("topology") / "catalog" / filename))


def resolve(source: str | Path) -> Topology:
    """Resolve a path, a built-in name, or ``generate:N[:seed]`` into a validated topology."""
    text = str(source)
    m = _GENERATE.match(text)
    if m:
        n = int(m.group(1))
        if not 3 <= n <= 200_000:
            raise TopologyError("a generated fleet has 3 to 200000 services, e.g. generate:2847:7", source=text)
        return generate(n, seed=int(m.group(2) or 0))
    if text == "fleet-2847":
        return generate(FLEET_SIZE, seed=FLEET_SEED, name="fleet-2847")
    if text in BUILTIN:
        return load(_catalog_path(BUILTIN[text][1] or ""))
    if text.startswith(("neo4j://", "neo4j+s://", "bolt://", "bolt+s://")):
        from topology.graphstore import load_from_uri  # optional dependency, imported on use
        return load_from_uri(text)
    p = Path(text)
    if p.exists() or p.suffix.lower() in (".yaml", ".yml", ".json", ".graphml"):
        return load(p)
    raise TopologyError(
        f"unknown topology; give a file path, a built-in name ({', '.join(BUILTIN)}), "
        "or generate:N[:seed]", source=text)
