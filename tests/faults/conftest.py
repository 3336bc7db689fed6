"""Fixtures for the fault suite: throwaway servers, the proxy, and the figures table.

Servers are started at most once per test session (lazily, by the first test that
needs one) and every test finds its server running: a test that stops or kills it
restarts it in its own ``finally``, and the ``server`` fixture starts it again if a
failed test left it down. Teardown removes the processes and their directories
even when tests fail.

Outside CI a missing binary skips the tests that need it, with the reason; with
``CI`` set it fails them (a skipped fault suite proves nothing).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import msgspec
import pytest

from .proxy import Proxy
from .servers import (
    MARIADB_INSTALL_DB,
    MARIADBD,
    PG_BIN,
    PGBOUNCER,
    ThrowawayMariaDB,
    ThrowawayPgBouncer,
    ThrowawayPostgres,
    ThrowawayServer,
    missing_binaries,
)


def need(*paths: Any, what: str) -> None:
    missing = missing_binaries(*paths)
    if missing:
        message = f"{what}: missing {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: the fault suite must run)")
        pytest.skip(message)


# -- figures ---------------------------------------------------------------------------------
class Figure(msgspec.Struct):
    scenario: str
    dialect: str
    attempted: int
    committed: int
    failed: dict[str, int]
    recover_s: float | None = None
    seconds: float | None = None
    note: str = ""


class Figures:
    """Collected by the scenarios, printed as one table at the end of the run."""

    def __init__(self) -> None:
        self.rows: list[Figure] = []

    def record(self, scenario: str, dialect: str, *, attempted: int, committed: int,
               failed: Mapping[str, int] | None = None, recover_s: float | None = None,
               seconds: float | None = None, note: str = "") -> None:
        self.rows.append(Figure(scenario, dialect, attempted, committed,
                                dict(sorted(Counter(failed or {}).items())),
                                None if recover_s is None else round(recover_s, 3),
                                None if seconds is None else round(seconds, 2), note))


FIGURES = Figures()


def _markdown(figures: Figures) -> str:
    head = ["scenario", "dialect", "attempted", "committed", "failed by type", "recover s", "secs", "note"]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for f in figures.rows:
        failed = ", ".join(f"{k} {v}" for k, v in f.failed.items()) or "-"
        cells = [f.scenario, f.dialect, str(f.attempted), str(f.committed), failed,
                 "-" if f.recover_s is None else f"{f.recover_s:.2f}",
                 "-" if f.seconds is None else f"{f.seconds:.1f}", f.note]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


@pytest.fixture(scope="session")
def figures() -> Figures:
    return FIGURES


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    if not FIGURES.rows:
        return
    text = _markdown(FIGURES)
    terminalreporter.section("rawdb fault suite figures")
    terminalreporter.write_line(text)
    target = os.environ.get("RAWDB_FAULTS_FIGURES")
    if target:
        with open(target, "w") as fh:
            fh.write(text + "\n")


# -- servers ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_server() -> Iterator[ThrowawayPostgres]:
    need(PG_BIN / "initdb", PG_BIN / "postgres", PG_BIN / "pg_isready", what="PostgreSQL 15")
    server = ThrowawayPostgres()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[ThrowawayMariaDB]:
    need(MARIADBD, MARIADB_INSTALL_DB, what="MariaDB")
    server = ThrowawayMariaDB()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(params=["postgresql", "mysql"])
def server(request: pytest.FixtureRequest) -> ThrowawayServer:
    """A running throwaway server of each dialect (restarted if a test left it down)."""
    name = "pg_server" if request.param == "postgresql" else "mariadb_server"
    srv: ThrowawayServer = request.getfixturevalue(name)
    srv.ensure_running()
    return srv


@pytest.fixture
def pgbouncer(pg_server: ThrowawayPostgres) -> Iterator[ThrowawayPgBouncer]:
    need(PGBOUNCER, what="pgbouncer (apt-get install -y pgbouncer)")
    pg_server.ensure_running()
    bouncer = ThrowawayPgBouncer(pg_server, pool_mode="transaction", default_pool_size=3)
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.cleanup()


@pytest.fixture
async def proxy(server: ThrowawayServer) -> AsyncIterator[Proxy]:
    p = Proxy(server.port)
    await p.start()
    try:
        yield p
    finally:
        await p.close()
