"""Shared fixtures. There is deliberately no tests/__init__.py: Ciw's wheel installs a
top-level ``tests`` package, and pytest runs with ``--import-mode=importlib``."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def err_text(self) -> str:
        """stderr with line wraps undone, for substring checks on long messages."""
        return " ".join(self.stderr.split())


@pytest.fixture
def srelab():
    """Run ``srelab ARGS...`` in-process through its real entry point (``srelab.cli.main``,
    which maps errors to exit codes), with click's runner capturing stdout and stderr."""
    from click.testing import CliRunner

    from srelab.cli import main

    def run(*args: object) -> CliResult:
        code = None
        with CliRunner().isolation() as (out, err, _):
            try:
                main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
        assert code is not None, "srelab.cli.main returned without calling sys.exit"
        return CliResult(code, out.getvalue().decode(), err.getvalue().decode())

    return run
