"""Real servers on loopback for the tests and the benchmark: nats-server (JetStream)
and PostgreSQL, each in a folder of its own, started, killed and restarted at will.

Both come from the system's packages (Debian's ``nats-server`` and ``postgresql``);
:class:`ServerUnavailable` says why one cannot be started here (its binary is
missing, or it did not come up). A server keeps its port and its data across
:meth:`kill`/:meth:`start`, as a real one does across a crash.

PostgreSQL refuses to run as root: as root, its commands run as the ``postgres``
user (Debian's package creates it) through ``runuser``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "NATS_URL_ENV",
    "PG_DSN_ENV",
    "NatsServer",
    "PostgresServer",
    "ServerUnavailable",
    "free_port",
    "nats_binary",
    "postgres_binaries",
]

_STARTUP = 30.0  # seconds a server may take to accept connections


class ServerUnavailable(RuntimeError):
    """A server cannot be started here (the message says why)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_until_up(port: int, process: subprocess.Popen[bytes] | None, log: Path) -> None:
    deadline = time.monotonic() + _STARTUP
    while time.monotonic() < deadline:
        if _accepts(port):
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise ServerUnavailable(f"the server on port {port} did not come up:\n{tail}")


class _Server:
    """What both servers share: a context manager that starts it and closes it."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop it for good."""
        self.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def nats_binary() -> str:
    """The path of ``nats-server``.

    :raises ServerUnavailable: if it is not installed.
    """
    found = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin:/usr/bin")
    if found is None:
        raise ServerUnavailable(
            "nats-server is not installed (Debian: apt-get install nats-server)"
        )
    return found


class NatsServer(_Server):
    """A nats-server with JetStream, on ``127.0.0.1:port``, storing in ``folder``.

    Use as a context manager (stopped on exit) or call :meth:`start`/:meth:`stop`.
    """

    def __init__(self, folder: str | os.PathLike[str], *, port: int | None = None) -> None:
        self.binary = nats_binary()
        self.folder = Path(folder)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it (again) and wait until it accepts connections."""
        if self.process is not None and self.process.poll() is None:
            return
        store = self.folder / "jetstream"
        store.mkdir(parents=True, exist_ok=True)
        log = self.folder / "nats-server.log"
        command = [
            self.binary,
            "--addr", "127.0.0.1",
            "--port", str(self.port),
            "--jetstream",
            "--store_dir", str(store),
            "--log", str(log),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_until_up(self.port, self.process, log)

    def kill(self) -> None:
        """SIGKILL it (a crash): JetStream recovers its store at the next start."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Stop it cleanly (SIGTERM, then SIGKILL after 10 s)."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10.0)
        except subprocess.TimeoutExpired:
            self.kill()


def postgres_binaries() -> Path:
    """The folder of PostgreSQL's server programs (``initdb``, ``pg_ctl``).

    :raises ServerUnavailable: if the server is not installed.
    """
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    if found is not None:
        return Path(found).parent
    raise ServerUnavailable("PostgreSQL is not installed (Debian: apt-get install postgresql)")


class PostgresServer(_Server):
    """A PostgreSQL cluster of its own in ``folder``, on ``127.0.0.1:port``.

    Its superuser is ``tradebus`` (no password, loopback only), with a database
    ``tradebus``; :attr:`dsn` connects to it. Use as a context manager or call
    :meth:`start`/:meth:`stop`; :meth:`kill` is an immediate shutdown (a crash: the
    next start recovers from the WAL).

    As root, the cluster lives in a folder of its own under the system's temporary
    folder (the ``postgres`` user must reach it), which :meth:`close` removes.
    """

    USER = "tradebus"

    def __init__(self, folder: str | os.PathLike[str], *, port: int | None = None) -> None:
        self.bin = postgres_binaries()
        self.as_postgres = os.geteuid() == 0
        self.owned = self.as_postgres
        if self.as_postgres:
            self.folder = Path(tempfile.mkdtemp(prefix="tradebus-pg-"))
            self.folder.chmod(0o755)
        else:
            self.folder = Path(folder)
        self.data = self.folder / "pgdata"
        self.sockets = self.folder / "sockets"
        self.log = self.folder / "postgres.log"
        self.port = port or free_port()

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{self.USER}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        command = list(args)
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, timeout=120, check=False)

    def _check(self, what: str, done: subprocess.CompletedProcess[bytes]) -> None:
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
            raise ServerUnavailable(f"PostgreSQL {what} failed:\n{output}")

    def _initialise(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if self.as_postgres:
            for path in (self.folder, self.sockets):
                shutil.chown(path, "postgres", "postgres")
        done = self._run(
            str(self.bin / "initdb"),
            "-D", str(self.data),
            "-U", self.USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )  # fmt: skip
        self._check("initdb", done)
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.sockets}'\n"
                "max_connections = 200\nshared_buffers = '128MB'\n"
            )

    def start(self) -> None:
        """Start it (creating the cluster the first time); wait until it accepts."""
        if not self.data.exists():
            self._initialise()
            first = True
        else:
            first = False
        if not _accepts(self.port):
            done = self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                "-w", "-t", str(int(_STARTUP)), "start",
            )  # fmt: skip
            self._check("start", done)
        _wait_until_up(self.port, None, self.log)
        if first:
            done = self._run(
                str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                "-U", self.USER, self.USER,
            )  # fmt: skip
            self._check("createdb", done)

    def kill(self) -> None:
        """An immediate shutdown: like a crash, recovered from the WAL at the next start."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def stop(self) -> None:
        """A fast, clean shutdown (connections are closed)."""
        if self.data.exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")

    def close(self) -> None:
        """Stop it, and remove its folder if it made one of its own."""
        with contextlib.suppress(Exception):
            self.stop()
        if self.owned:
            shutil.rmtree(self.folder, ignore_errors=True)


#: The variables :func:`main` exports: the tests use these servers when they are set.
NATS_URL_ENV = "TRADEBUS_TEST_NATS_URL"
PG_DSN_ENV = "TRADEBUS_TEST_PG_DSN"


def _start_all(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    state: dict[str, str] = {}
    try:
        nats = NatsServer(folder / "nats")
        nats.start()
        assert nats.process is not None
        state["nats_pid"] = str(nats.process.pid)
        lines.append(f"export {NATS_URL_ENV}={nats.url}")
    except ServerUnavailable as exc:
        print(f"echo 'nats-server not started: {str(exc).splitlines()[0]}' >&2")
    try:
        pg = PostgresServer(folder / "postgres")
        state["pg_folder"] = str(pg.folder)
        state["pg_owned"] = "1" if pg.owned else ""
        pg.start()
        lines.append(f"export {PG_DSN_ENV}={pg.dsn}")
    except ServerUnavailable as exc:
        print(f"echo 'PostgreSQL not started: {str(exc).splitlines()[0]}' >&2")
    (folder / "servers.state").write_text("\n".join(f"{k}={v}" for k, v in state.items()))
    print("\n".join(lines))


def _stop_all(folder: Path) -> None:
    path = folder / "servers.state"
    if not path.exists():
        return
    state = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    if "nats_pid" in state:
        with contextlib.suppress(OSError):
            os.kill(int(state["nats_pid"]), signal.SIGTERM)
    if "pg_folder" in state:
        pg = PostgresServer(folder / "postgres")
        if pg.owned:
            shutil.rmtree(pg.folder, ignore_errors=True)
        pg.folder = Path(state["pg_folder"])
        pg.data = pg.folder / "pgdata"
        pg.owned = bool(state.get("pg_owned"))
        pg.close()


def main(argv: list[str]) -> int:
    """``python3 bench/servers.py start|stop FOLDER`` (stdlib only, for CI scripts):
    ``start`` starts nats-server and PostgreSQL and prints the shell ``export``
    lines of their addresses; ``stop`` stops what ``start`` started there."""
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: servers.py start|stop FOLDER")
        return 2
    (_start_all if argv[0] == "start" else _stop_all)(Path(argv[1]))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
