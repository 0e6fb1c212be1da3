"""The test session's one PostgreSQL server (a module, not a conftest, so tests can import it).

Which server, in this order (:func:`resolve`):

1. ``CREDIT_LEDGER_TEST_POSTGRES_URL`` if set. Unreachable is then a failure: a
   configured database that is down is an error, not a reason to skip.
2. ``postgresql://postgres@127.0.0.1:5432/test`` (the development machine's server)
   if it answers.
3. A throwaway server of Debian's PostgreSQL binaries (``initdb`` and ``pg_ctl`` on
   PATH or in ``/usr/lib/postgresql/<version>/bin``, newest version first): a cluster
   in a fresh temporary directory, listening on a free port of 127.0.0.1 only, its
   unix socket in that directory, database ``test``; stopped and deleted at the end
   of the session (:func:`throwaway_server`).
4. Neither: the PostgreSQL tests are skipped, with how to install the binaries.

initdb and postgres refuse to run as root. As root the cluster is therefore made and
run as an unprivileged user: ``postgres`` when Debian's server package created it,
else ``nobody``. The temporary directory (made by ``tempfile``, not pytest's
``tmp_path``, whose parent is private to root) is handed to that user with ``chown``,
and the binaries run under ``runuser -u USER --`` (util-linux, in every Debian), or
``setpriv`` when runuser is absent. As any other user they run directly.

Per-test isolation is a fresh schema (``search_path`` through libpq ``options``),
dropped afterwards: :func:`fresh_schema`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from ledger.store import normalise_url

PG_ENV = "CREDIT_LEDGER_TEST_POSTGRES_URL"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
#: Internal, for testing this module: the URL probed in step 2 (point it at a closed
#: port to exercise the throwaway server on a machine whose own server runs).
PG_DEFAULT_ENV = "CREDIT_LEDGER_TEST_POSTGRES_DEFAULT_URL"
#: Internal, for testing this module: where to look for initdb/pg_ctl instead of PATH
#: and /usr/lib/postgresql (an empty directory simulates a machine without them).
PG_BINDIR_ENV = "CREDIT_LEDGER_TEST_POSTGRES_BINDIR"
INSTALL_HINT = "install Debian's PostgreSQL: `apt-get install postgresql` (`make test` does it for you)"
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
DATABASE = "test"
SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server for the tests; ``required`` when one was configured explicitly."""

    def __init__(self, message: str, required: bool) -> None:
        super().__init__(message)
        self.required = required


@dataclass(frozen=True)
class Binaries:
    initdb: Path
    pg_ctl: Path


@dataclass(frozen=True)
class Plan:
    """What :func:`resolve` decided: use ``url``, or start a throwaway server of ``binaries``."""

    origin: str  # "env", "default" or "throwaway"
    url: str | None = None
    binaries: Binaries | None = None
    reason: str = ""  # why the machine's server is not used (throwaway only)


@dataclass
class Server:
    """The session's server: the URL of its ``test`` database and an admin engine on it."""

    url: sa.URL
    origin: str  # as Plan.origin
    engine: sa.Engine
    reason: str = ""


def probe(url: str, timeout: float = 3.0) -> str | None:
    """None when ``url`` accepts a connection and ``SELECT 1``, else why not (one line)."""
    import psycopg

    conninfo = normalise_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, connect_timeout=max(1, round(timeout))) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "does not answer"
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def _version_key(bindir: str) -> tuple[int, ...]:
    match = re.search(r"/postgresql/([0-9.]+)/bin$", bindir)
    return tuple(int(p) for p in match.group(1).split(".") if p) if match else ()


def find_binaries(environ: Mapping[str, str] | None = None) -> Binaries | None:
    """initdb and pg_ctl of one installation: PATH first, then Debian's newest version."""
    environ = os.environ if environ is None else environ
    override = environ.get(PG_BINDIR_ENV)
    if override is not None:
        dirs = [override]
    else:
        initdb = shutil.which("initdb", path=environ.get("PATH"))
        dirs = [str(Path(initdb).resolve().parent)] if initdb else []
        dirs += sorted(glob.glob(DEBIAN_BINDIRS), key=_version_key, reverse=True)
    for d in dirs:
        initdb, pg_ctl = Path(d, "initdb"), Path(d, "pg_ctl")
        if all(p.is_file() and os.access(p, os.X_OK) for p in (initdb, pg_ctl)):
            return Binaries(initdb, pg_ctl)
    return None


def resolve(
    environ: Mapping[str, str] | None = None,
    probe: Callable[[str], str | None] = probe,
    find_binaries: Callable[[Mapping[str, str]], Binaries | None] = find_binaries,
) -> Plan:
    """Decide which server the session uses (see the module docstring); raises PostgresUnavailable."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(PG_ENV)
    if explicit:
        error = probe(explicit)
        if error is not None:
            raise PostgresUnavailable(f"{PG_ENV} is set but PostgreSQL is unreachable: {error}", required=True)
        return Plan("env", url=explicit)
    default = environ.get(PG_DEFAULT_ENV) or PG_DEFAULT
    error = probe(default)
    if error is None:
        return Plan("default", url=default)
    binaries = find_binaries(environ)
    if binaries is None:
        raise PostgresUnavailable(
            f"no PostgreSQL server answers at {default} ({error}) and no initdb/pg_ctl binaries were found "
            f"(PATH, {DEBIAN_BINDIRS}): {INSTALL_HINT}, or set {PG_ENV}",
            required=False,
        )
    return Plan("throwaway", binaries=binaries, reason=f"nothing answers at {default}: {error}")


# -- the throwaway server ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unprivileged_user() -> pwd.struct_passwd | None:
    """The account to run initdb/postgres as: None when not root, else ``postgres`` or ``nobody``."""
    if os.geteuid() != 0:
        return None
    for name in (SUPERUSER, "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and neither a `postgres` nor a `nobody` user exists", required=False)


def _as_user(user: pwd.struct_passwd | None) -> list[str]:
    if user is None:
        return []
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
    runuser = shutil.which("runuser", path=search)
    if runuser:
        return [runuser, "-u", user.pw_name, "--"]
    setpriv = shutil.which("setpriv", path=search)
    if setpriv:
        return [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]
    raise PostgresUnavailable("running as root and neither runuser nor setpriv is available", required=False)


def _run(command: list[str], cwd: Path, what: str, log: Path | None = None) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stdout}{result.stderr}{tail}")


def _stop(prefix: list[str], binaries: Binaries, data: Path, base: Path) -> None:
    try:
        _run([*prefix, str(binaries.pg_ctl), "-D", str(data), "-m", "immediate", "-w", "stop"], base, "pg_ctl stop")
    except (RuntimeError, subprocess.TimeoutExpired):
        pid_file = data / "postmaster.pid"  # first line: the postmaster's pid
        if pid_file.exists():
            with contextlib.suppress(ValueError, OSError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)  # immediate shutdown
        raise


@dataclass
class ThrowawayServer:
    """A running throwaway cluster: its ``test`` database's URL, and a way to restart it."""

    url: str
    _restart: Callable[[str], None]

    def restart(self, mode: str = "immediate") -> None:
        """Restart the server (``immediate``: every connection dies, as in a crash) and wait until it answers."""
        self._restart(mode)


@contextmanager
def throwaway_server(binaries: Binaries) -> Iterator[str]:
    """A new PostgreSQL cluster on a free 127.0.0.1 port; yields the URL of its ``test`` database."""
    with restartable_server(binaries) as server:
        yield server.url


@contextmanager
def restartable_server(binaries: Binaries) -> Iterator[ThrowawayServer]:
    """:func:`throwaway_server`, yielding the server itself (the reliability bench restarts it)."""
    user = unprivileged_user()
    prefix = _as_user(user)
    base = Path(tempfile.mkdtemp(prefix="credit-ledger-pg-"))
    try:
        if user is not None:
            os.chown(base, user.pw_uid, user.pw_gid)
        data, log = base / "data", base / "postgres.log"
        _run(
            [*prefix, str(binaries.initdb), "-D", str(data), "-U", SUPERUSER, "--auth=trust"]
            + ["--encoding=UTF8", "--locale=C", "--no-sync"],
            base,
            "initdb",
        )
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        start = [*prefix, str(binaries.pg_ctl), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60"]
        _run([*start, "start"], base, "pg_ctl start", log)

        def restart(mode: str) -> None:
            _run([*start, "-m", mode, "restart"], base, "pg_ctl restart", log)

        try:
            admin = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
            engine = sa.create_engine(normalise_url(admin), isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
            finally:
                engine.dispose()
            yield ThrowawayServer(f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}", restart)
        finally:
            _stop(prefix, binaries, data, base)
    finally:
        for _ in range(3):  # a server process may still be removing its socket/pid files
            shutil.rmtree(base, ignore_errors=True)
            if not base.exists():
                break
            time.sleep(0.2)


@contextmanager
def session_server() -> Iterator[Server]:
    """The resolved server for the whole session (started and stopped here if throwaway)."""
    plan = resolve()
    source = throwaway_server(plan.binaries) if plan.binaries is not None else nullcontext(plan.url)
    with source as url:
        assert url is not None
        engine = sa.create_engine(normalise_url(url), pool_pre_ping=True)
        try:
            yield Server(engine.url, plan.origin, engine, plan.reason)
        finally:
            engine.dispose()


@contextmanager
def fresh_schema(server: Server, prefix: str = "t") -> Iterator[sa.URL]:
    """A new empty schema on ``server``; yields a URL whose ``search_path`` is that schema; dropped after."""
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with server.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield server.url.update_query_dict({"options": f"-csearch_path={schema}"})
    finally:
        with server.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
