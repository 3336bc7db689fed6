"""Every wait is bounded: connecting to a server that never answers, resetting a
connection over a dead network, and a process that forgot to close its pool."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import rawdb
from tests.conftest import PG_URL, require_server
from tests.faults.proxy import Proxy
from tests.helpers import eventually

SERVER_SCHEMES = {"postgresql": "postgresql://postgres@127.0.0.1:{port}/test",
                  "mysql": "mysql://root:hunter2-secret@127.0.0.1:{port}/test"}


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """Accepts TCP connections and never sends a byte (a hung server or middlebox)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("scheme", sorted(SERVER_SCHEMES))
async def test_connect_to_a_silent_server_is_bounded_by_connect_timeout(silent_server: int, scheme: str) -> None:
    """aiomysql waited for the server's greeting for ever (create_pool, the CLI and
    FastAPI start-up hung); asyncpg's timeout came with an empty message."""
    url = SERVER_SCHEMES[scheme].format(port=silent_server)
    started = time.monotonic()
    with pytest.raises(rawdb.ConnectionLost) as info:
        await asyncio.wait_for(rawdb.create_pool(url, connect_timeout=0.5), 10)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "connect_timeout=0.5" in message and "cannot connect" in message
    assert "hunter2" not in message


@pytest.mark.parametrize("scheme", sorted(SERVER_SCHEMES))
async def test_refused_connection_says_refused(scheme: str) -> None:
    url = SERVER_SCHEMES[scheme].format(port=closed_port())
    with pytest.raises(rawdb.ConnectionLost) as info:
        await asyncio.wait_for(rawdb.create_pool(url, connect_timeout=2), 10)
    message = str(info.value).lower()
    assert "cannot connect" in message and "refused" in message
    assert "connection lost" not in message
    assert "hunter2" not in message


async def test_dedicated_connection_is_bounded_too(silent_server: int) -> None:
    await require_server("postgresql")
    async with Proxy(int(PG_URL.rsplit(":", 1)[1].split("/")[0])) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
        async with await rawdb.create_pool(url, max_size=1, connect_timeout=0.5) as pool:
            proxy.stall()
            with pytest.raises(rawdb.ConnectionLost, match="connect_timeout"):
                async with asyncio.timeout(10):
                    async with pool.dedicated_connection():
                        pass
            proxy.resume()


async def test_background_reset_over_a_dead_network_ends(dialect: str) -> None:
    """A connection that ran a session-changing statement is reset in the
    background; over a stalled network the reset used to wait for ever and the
    connection stayed 'in use'."""
    if dialect != "postgresql":
        pytest.skip("only PostgreSQL resets in place (the others replace the connection)")
    await require_server(dialect)
    port = int(PG_URL.rsplit(":", 1)[1].split("/")[0])
    async with Proxy(port) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
        pool = await rawdb.create_pool(url, min_size=0, max_size=1, connect_timeout=0.5, acquire_timeout=10)
        try:
            async with pool.connection() as conn:
                await conn.execute("SET application_name = 'tenant-a'")
                proxy.stall()
            await eventually(lambda: pool.stats().in_use == 0, timeout=5, what="the stalled reset to give up")
            assert pool.stats().discarded_total >= 1
            proxy.resume()
            async with pool.transaction() as tx:
                assert await tx.fetch_val("SHOW application_name") != "tenant-a"
        finally:
            proxy.resume()
            await asyncio.wait_for(pool.close(timeout=2), 20)


def test_unclosed_sqlite_pool_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import asyncio, sys
        import rawdb

        async def main():
            pool = await rawdb.create_pool("sqlite:///" + sys.argv[1], max_size=3)
            async with pool.transaction() as tx:
                await tx.execute("CREATE TABLE t (x INTEGER)")
                await tx.execute("INSERT INTO t VALUES (1)")
            async with pool.transaction(readonly=True) as tx:
                assert await tx.fetch_val("SELECT count(*) FROM t") == 1
            print("done", flush=True)
            # no pool.close(): the bug this guards against is a process that never exits

        asyncio.run(main())
    """)
    result = subprocess.run([sys.executable, "-W", "always::ResourceWarning", "-c", script,
                             str(tmp_path / "unclosed.db")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
