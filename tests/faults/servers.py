"""Throwaway database servers the fault suite may stop, kill and restart at will.

Each server lives in its own temporary directory on a free loopback port and runs
as a non-root user when the suite runs as root (PostgreSQL refuses root; MariaDB
drops to ``--user=mysql``), so the shared services on 5432/3306 are never touched.

Process control is synchronous (subprocess + polling), so a server may be owned by
a session-scoped fixture while every test has its own event loop; tests call the
blocking methods through ``asyncio.to_thread`` when a workload is running.
Administrative SQL goes straight through the drivers, never through rawdb, so a
bug in the code under test cannot hide in the harness.

Durability note: PostgreSQL runs with ``fsync=off`` and MariaDB with
``innodb_flush_log_at_trx_commit=2``. Both still hand every commit record to the
kernel before acknowledging it, so a killed *process* loses nothing that was
acknowledged (what this suite tests); only an OS crash could, which is out of scope.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PG_BIN = Path(os.environ.get("RAWDB_FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))
MARIADBD = os.environ.get("RAWDB_FAULTS_MARIADBD", "/usr/sbin/mariadbd")
MARIADB_INSTALL_DB = os.environ.get("RAWDB_FAULTS_MARIADB_INSTALL_DB", "/usr/bin/mariadb-install-db")
PGBOUNCER = os.environ.get("RAWDB_FAULTS_PGBOUNCER", "/usr/sbin/pgbouncer")


# A watchdog per server directory: if the test process dies without its teardown
# (SIGKILL, CI timeout), the server's process group is killed and its directory
# removed, so no throwaway server outlives the run that started it.
_REAPER = """
import os, shutil, signal, sys, time
parent, directory = int(sys.argv[1]), sys.argv[2]
while os.path.isdir(directory):
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        break
    except PermissionError:
        pass
    time.sleep(0.5)
else:
    sys.exit(0)
try:
    with open(os.path.join(directory, "pgid")) as fh:
        os.killpg(int(fh.read()), signal.SIGKILL)
except (OSError, ValueError):
    pass
shutil.rmtree(directory, ignore_errors=True)
"""


def _start_reaper(directory: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", _REAPER, str(os.getpid()), str(directory)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _stop_reaper(reaper: subprocess.Popen[bytes] | None) -> None:
    if reaper is not None and reaper.poll() is None:
        reaper.kill()
        reaper.wait(5)


def _record_pgid(directory: Path, pid: int) -> None:
    (directory / "pgid").write_text(str(pid))  # start_new_session: pgid == pid


class ServerError(RuntimeError):
    """A throwaway server did not start or stop as asked; carries the log tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def missing_binaries(*paths: str | Path) -> list[str]:
    return [str(p) for p in paths if not (os.path.isfile(p) and os.access(p, os.X_OK))]


def _run_as(user: str) -> dict[str, Any]:
    """subprocess keywords that drop to ``user`` when we are root; nothing otherwise."""
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def _chown_tree(path: Path, user: str) -> None:
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), pw.pw_uid, pw.pw_gid)


class ThrowawayServer:
    """Common life cycle: a directory, a port, one process group we own."""

    kind = "server"
    os_user = "nobody"

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.settings = dict(settings or {})
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"rawdb-faults-{self.kind}-"))
        os.chmod(self.dir, 0o755)
        self.log_path = self.dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.initialized = False
        self.starts = 0
        self.reaper = _start_reaper(self.dir)

    # -- to implement ------------------------------------------------------------------
    def _init_datadir(self) -> None:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _after_first_start(self) -> None:
        pass

    @property
    def url(self) -> str:
        raise NotImplementedError

    def url_via(self, port: int) -> str:
        """The same URL, to another port on 127.0.0.1 (a proxy in front of this server)."""
        return self.url.replace(f"127.0.0.1:{self.port}/", f"127.0.0.1:{port}/")

    # -- life cycle ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60.0) -> float:
        """Start (initialising the data directory once); returns when it accepts
        connections, with the time.monotonic() of that moment."""
        if self.running:
            return time.monotonic()
        if not self.initialized:
            self._init_datadir()
            self.initialized = True
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(
                self._command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.dir, **_run_as(self.os_user),
            )
        finally:
            log.close()
        _record_pgid(self.dir, self.proc.pid)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.kind} exited with {self.proc.returncode} while starting:\n"
                                  + self.log_tail())
            if self._ready():
                if self.starts == 1:
                    self._after_first_start()
                return time.monotonic()
            time.sleep(0.05)
        self.kill()
        raise ServerError(f"{self.kind} did not accept connections within {timeout}s:\n" + self.log_tail())

    def _signal_stop(self, fast: bool) -> None:
        raise NotImplementedError

    def stop(self, fast: bool = True, timeout: float = 30.0) -> None:
        """Shut down (PostgreSQL fast = SIGINT, MariaDB SIGTERM); SIGKILL if it hangs."""
        if not self.running:
            return
        assert self.proc is not None
        self._signal_stop(fast)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerError(f"{self.kind} did not stop within {timeout}s:\n" + self.log_tail()) from None
        self._reap_group()

    def kill(self) -> None:
        """SIGKILL the server and every process it started (a crash, not a shutdown)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        self._reap_group()

    def _reap_group(self) -> None:
        """Children (PostgreSQL backends) die with the postmaster; wait until they have."""
        if self.proc is None:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def restart(self, fast: bool = True, down_for: float = 0.0) -> float:
        self.stop(fast=fast)
        if down_for:
            time.sleep(down_for)
        return self.start()

    def ensure_running(self) -> None:
        if not self.running:
            self.start()

    def cleanup(self) -> None:
        try:
            if self.running:
                with contextlib.suppress(ServerError):
                    self.stop(fast=True, timeout=15)
            self.kill()
        finally:
            _stop_reaper(self.reaper)
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {state} 127.0.0.1:{self.port} {self.dir}>"


class ThrowawayPostgres(ThrowawayServer):
    kind = "postgresql"
    os_user = "postgres"
    dialect = "postgresql"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _init_datadir(self) -> None:
        _chown_tree(self.dir, self.os_user)
        result = subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres",
             "--no-sync", "-E", "UTF8", "--locale=C"],
            capture_output=True, stdin=subprocess.DEVNULL, **_run_as(self.os_user), check=False,
        )
        if result.returncode != 0:
            raise ServerError(f"initdb failed: {result.stderr.decode(errors='replace')}")

    def _command(self) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.dir),
            "fsync": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "max_connections": "120",
            "logging_collector": "off",
            "log_min_messages": "warning",
            **self.settings,
        }
        command = [str(PG_BIN / "postgres"), "-D", str(self.dir / "data"), "-p", str(self.port)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        return command

    def _ready(self) -> bool:
        result = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", "postgres", "-t", "1"],
            stdin=subprocess.DEVNULL, capture_output=True, check=False,
        )
        return result.returncode == 0

    def _signal_stop(self, fast: bool) -> None:
        assert self.proc is not None
        # SIGINT: fast shutdown (abort transactions, disconnect); SIGTERM: smart.
        self.proc.send_signal(signal.SIGINT if fast else signal.SIGTERM)

    async def admin(self, sql: str, *args: Any, database: str = "postgres") -> Any:
        """Run one statement as the superuser through asyncpg; returns fetch() rows."""
        import asyncpg

        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres",
                                     database=database, timeout=10)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def set_config(self, **settings: str) -> None:
        """ALTER SYSTEM + reload: new sessions see the settings (server-wide)."""
        for name, value in settings.items():
            await self.admin(f"ALTER SYSTEM SET {name} = '{value}'")
        await self.admin("SELECT pg_reload_conf()")

    async def reset_config(self, *names: str) -> None:
        for name in names:
            await self.admin(f"ALTER SYSTEM RESET {name}")
        await self.admin("SELECT pg_reload_conf()")

    async def backend_count(self, application_name: str = "rawdb", database: str | None = None) -> int:
        sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
        args: list[Any] = [application_name]
        if database is not None:
            sql += " AND datname = $2"
            args.append(database)
        rows = await self.admin(sql, *args)
        return int(rows[0][0])


class ThrowawayMariaDB(ThrowawayServer):
    kind = "mariadb"
    os_user = "mysql"
    dialect = "mysql"

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/test"

    def _init_datadir(self) -> None:
        _chown_tree(self.dir, self.os_user)
        command = [MARIADB_INSTALL_DB, "--no-defaults", f"--datadir={self.dir / 'data'}",
                   "--auth-root-authentication-method=normal", "--skip-test-db"]
        if os.geteuid() == 0:
            command.append(f"--user={self.os_user}")
        result = subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL, check=False)
        if result.returncode != 0:
            raise ServerError(f"mariadb-install-db failed: {result.stdout.decode(errors='replace')}"
                              f"{result.stderr.decode(errors='replace')}")
        _chown_tree(self.dir, self.os_user)

    def _command(self) -> list[str]:
        settings = {
            "port": str(self.port),
            "bind-address": "127.0.0.1",
            "socket": str(self.dir / "mysqld.sock"),
            "pid-file": str(self.dir / "mysqld.pid"),
            "datadir": str(self.dir / "data"),
            "skip-log-bin": None,
            "skip-name-resolve": None,
            "innodb-buffer-pool-size": "32M",
            "innodb-log-file-size": "16M",
            "innodb-flush-log-at-trx-commit": "2",
            "max-connections": "200",
            **self.settings,
        }
        command = [MARIADBD, "--no-defaults"]
        if os.geteuid() == 0:
            command.append(f"--user={self.os_user}")
        for name, value in settings.items():
            command.append(f"--{name}" if value is None else f"--{name}={value}")
        return command

    def _connect(self, database: str | None = None) -> Any:
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="",
                               database=database, connect_timeout=2, autocommit=True)

    def _ready(self) -> bool:
        try:
            conn = self._connect()
        except Exception:
            return False
        conn.close()
        return True

    def _after_first_start(self) -> None:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE DATABASE IF NOT EXISTS test CHARACTER SET utf8mb4")
        finally:
            conn.close()

    def _signal_stop(self, fast: bool) -> None:
        assert self.proc is not None
        # SIGTERM is MariaDB's normal shutdown: it kills client sessions, rolls back
        # their transactions and exits (there is no slower "smart" mode).
        self.proc.send_signal(signal.SIGTERM)

    async def admin(self, sql: str, args: Any = None, database: str | None = "test") -> Any:
        """Run one statement as root through aiomysql; returns fetchall() rows."""
        import aiomysql

        conn = await aiomysql.connect(host="127.0.0.1", port=self.port, user="root", password="",
                                      db=database, autocommit=True, connect_timeout=10)
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql, args)
                return await cur.fetchall()
        finally:
            conn.close()

    async def set_config(self, **settings: str) -> None:
        """SET GLOBAL: sessions opened from now on see the values."""
        for name, value in settings.items():
            await self.admin(f"SET GLOBAL {name} = {value}")

    async def reset_config(self, *names: str) -> None:
        for name in names:
            await self.admin(f"SET GLOBAL {name} = DEFAULT")

    async def backend_count(self, user: str = "root", database: str | None = "test") -> int:
        rows = await self.admin(
            "SELECT count(*) FROM information_schema.processlist WHERE user = %s AND db <=> %s "
            "AND id <> CONNECTION_ID()", (user, database))
        return int(rows[0][0])


class ThrowawayPgBouncer:
    """pgbouncer in front of a throwaway PostgreSQL, as a non-root user."""

    def __init__(self, upstream: ThrowawayPostgres, *, pool_mode: str = "transaction",
                 default_pool_size: int = 4) -> None:
        self.upstream = upstream
        self.pool_mode = pool_mode
        self.default_pool_size = default_pool_size
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="rawdb-faults-pgbouncer-"))
        os.chmod(self.dir, 0o755)
        self.log_path = self.dir / "pgbouncer.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.reaper = _start_reaper(self.dir)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 20.0) -> None:
        ini = self.dir / "pgbouncer.ini"
        (self.dir / "userlist.txt").write_text('"postgres" ""\n')
        ini.write_text(
            "[databases]\n"
            f"postgres = host=127.0.0.1 port={self.upstream.port} dbname=postgres\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.dir / 'userlist.txt'}\n"
            f"pool_mode = {self.pool_mode}\n"
            f"default_pool_size = {self.default_pool_size}\n"
            "max_client_conn = 200\n"
            f"logfile = {self.log_path}\n"
            f"pidfile = {self.dir / 'pgbouncer.pid'}\n"
            "server_reset_query =\n"
            "log_connections = 0\n"
            "log_disconnections = 0\n"
        )
        _chown_tree(self.dir, "postgres")
        self.proc = subprocess.Popen(
            [PGBOUNCER, str(ini)], stdout=subprocess.DEVNULL, stderr=open(self.dir / "stderr", "ab"),  # noqa: SIM115
            stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.dir, **_run_as("postgres"),
        )
        _record_pgid(self.dir, self.proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"pgbouncer exited with {self.proc.returncode}:\n{self.log_tail()}")
            if port_open(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise ServerError(f"pgbouncer did not listen within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            _stop_reaper(self.reaper)
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for path in (self.log_path, self.dir / "stderr"):
            with contextlib.suppress(OSError):
                parts.append("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts) or "(no log)"
