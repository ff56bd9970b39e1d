"""The error hierarchy of srelab.

Every error a user can cause or meet derives from :class:`SrelabError` and
carries the process exit code of the design::

    SrelabError                     exit 1  (generic; rarely raised directly)
    ├── InputError                  exit 2  bad input or usage: names file, field, fix
    │   ├── TopologyError                   a topology file or graph is invalid
    │   └── ScenarioError                   a scenario file is invalid
    ├── UnreachableError            exit 3  a live target or external service is down
    └── Interrupted                 exit 130

Errors from YAML, pydantic and drivers are translated into these where they
enter (see :func:`from_validation_error`), so the CLI prints one short message
and never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

__all__ = [
    "SrelabError",
    "InputError",
    "TopologyError",
    "ScenarioError",
    "UnreachableError",
    "Interrupted",
    "from_validation_error",
    "format_loc",
]


class SrelabError(Exception):
    """Root of all srelab errors."""

    exit_code = 1

    def __init__(self, message: str, *, source: str | Path | None = None, field: str | None = None) -> None:
        self.message = message
        self.source = str(source) if source is not None else None
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.field:
            where.append(self.field)
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class InputError(SrelabError):
    """Invalid input or usage; the message names the file, the field and the fix."""

    exit_code = 2


class TopologyError(InputError):
    """A topology file or graph is invalid."""


class ScenarioError(InputError):
    """A scenario file is invalid."""


class UnreachableError(SrelabError):
    """A live target or an external service could not be reached."""

    exit_code = 3


class Interrupted(SrelabError):
    """The user interrupted a run (Ctrl-C)."""

    exit_code = 130


def format_loc(loc: Iterable[Any]) -> str:
    """Render a pydantic location tuple as a field path: ``services.cart.replicas``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def from_validation_error(
    exc: Any, *, source: str | Path | None, kind: type[InputError] = InputError,
    lines: dict[str, int] | None = None,
) -> InputError:
    """Translate a ``pydantic.ValidationError`` into one readable :class:`InputError`.

    Only the first problems are listed; each names its field path. ``lines``
    maps a field path to the YAML line it came from, where known.
    """
    problems = []
    for err in exc.errors()[:5]:
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = format_loc(loc)
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        elif err["type"] == "extra_forbidden":
            msg = "unknown field; check the spelling against the documented format"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = loc + [err.get("ctx", {}).get("discriminator", "").strip("'") or "kind"]
            path = format_loc(loc)
        line = (lines or {}).get(path)
        at = f" (line {line})" if line else ""
        problems.append(f"{path}{at}: {msg}")
    more = len(exc.errors()) - len(problems)
    text = "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
    return kind(text, source=source)
