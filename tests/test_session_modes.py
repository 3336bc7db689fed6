"""One connection, many kinds of use: read-only and read-write transactions, chosen
isolation levels and autocommit `Connection`s take turns on the same pooled
connection, and none inherits the previous one's mode.

On MySQL this guards the saved round trip: a transaction the pool owns opens
without START TRANSACTION (the session runs with autocommit off), so the
session mode has to be right for each user of the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator

import pytest

import rawdb
from tests.conftest import IsolatedDatabase
from tests.helpers import backend_id, eventually


@pytest.fixture
async def one_conn_pool(isolated: IsolatedDatabase) -> AsyncIterator[rawdb.Pool]:
    """max_size=1 on the servers, so every block below reuses the same connection."""
    pool = await isolated.pool(max_size=1, acquire_timeout=10)
    try:
        async with pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE modes (id INTEGER PRIMARY KEY, note VARCHAR(20))")
        yield pool
    finally:
        await asyncio.wait_for(pool.close(timeout=5), 30)


async def _count(pool: rawdb.Pool) -> int:
    async with pool.transaction(readonly=True) as tx:
        return int(await tx.fetch_val("SELECT count(*) FROM modes"))


async def test_read_only_and_read_write_alternate(one_conn_pool: rawdb.Pool) -> None:
    pool = one_conn_pool
    for i in range(3):
        with pytest.raises(rawdb.ReadOnlyViolation):
            async with pool.transaction(readonly=True) as tx:
                await tx.execute("INSERT INTO modes (id, note) VALUES (:id, 'ro')", {"id": 100 + i})
        async with pool.transaction() as tx:
            await tx.execute("INSERT INTO modes (id, note) VALUES (:id, 'rw')", {"id": i})
    assert await _count(pool) == 3


async def test_isolation_level_after_read_only(one_conn_pool: rawdb.Pool) -> None:
    pool = one_conn_pool
    async with pool.transaction(readonly=True) as tx:
        await tx.fetch_val("SELECT count(*) FROM modes")
    async with pool.transaction(isolation="serializable") as tx:
        await tx.execute("INSERT INTO modes (id, note) VALUES (1, 'serial')")
    with pytest.raises(rawdb.ReadOnlyViolation):
        async with pool.transaction(readonly=True, isolation="serializable") as tx:
            await tx.execute("INSERT INTO modes (id, note) VALUES (2, 'ro')")
    async with pool.transaction() as tx:
        await tx.execute("INSERT INTO modes (id, note) VALUES (3, 'rw')")
    assert await _count(pool) == 2


async def test_connection_after_transactions_autocommits(isolated: IsolatedDatabase,
                                                         one_conn_pool: rawdb.Pool) -> None:
    """Each statement of a `Connection` is visible to others at once, even when the
    connection last served a (read-only) transaction, and again after the
    Connection ran a transaction block of its own."""
    pool = one_conn_pool
    observer = await isolated.pool(max_size=1, acquire_timeout=10)
    try:
        async with pool.transaction() as tx:
            await tx.execute("INSERT INTO modes (id, note) VALUES (1, 'tx')")
        async with pool.transaction(readonly=True) as tx:
            await tx.fetch_val("SELECT count(*) FROM modes")
        async with pool.connection() as conn:
            await conn.execute("INSERT INTO modes (id, note) VALUES (2, 'auto')")
            assert await _count(observer) == 2
            async with conn.transaction(readonly=True) as tx:
                await tx.fetch_val("SELECT count(*) FROM modes")
            async with conn.transaction() as tx:
                await tx.execute("INSERT INTO modes (id, note) VALUES (3, 'conn tx')")
            await conn.execute("INSERT INTO modes (id, note) VALUES (4, 'auto again')")
            assert await _count(observer) == 4
        async with pool.transaction() as tx:
            await tx.execute("INSERT INTO modes (id, note) VALUES (5, 'tx again')")
            assert await _count(observer) == 4  # not before COMMIT
        assert await _count(observer) == 5
    finally:
        await asyncio.wait_for(observer.close(timeout=5), 30)


async def test_rolled_back_transaction_leaves_nothing(one_conn_pool: rawdb.Pool) -> None:
    pool = one_conn_pool
    with pytest.raises(RuntimeError):
        async with pool.transaction() as tx:
            await tx.execute("INSERT INTO modes (id, note) VALUES (1, 'undone')")
            raise RuntimeError("the application gave up")
    async with pool.connection() as conn:
        assert await conn.fetch_val("SELECT count(*) FROM modes") == 0


async def test_savepoint_as_first_statement(one_conn_pool: rawdb.Pool) -> None:
    """A savepoint opened before anything else ran (on MySQL: before the implicit
    transaction has touched a table) still rolls back alone."""
    pool = one_conn_pool
    for i in range(2):
        async with pool.transaction() as tx:
            with pytest.raises(KeyError):
                async with tx.transaction() as savepoint:
                    await savepoint.execute("INSERT INTO modes (id, note) VALUES (:id, 'undone')", {"id": 10 + i})
                    raise KeyError("undo the savepoint")
            await tx.execute("INSERT INTO modes (id, note) VALUES (:id, 'kept')", {"id": i})
    async with pool.transaction(readonly=True) as tx:
        assert [r[0] for r in await tx.fetch_all("SELECT id FROM modes ORDER BY id")] == [0, 1]


async def _statements_sent(tx: rawdb.Transaction) -> int:
    """Statements this MySQL session has received so far (the query itself included)."""
    row = await tx.fetch_one("SHOW SESSION STATUS LIKE 'Questions'")
    return int(row[1])


@pytest.mark.parametrize("dialect", ["mysql"])
async def test_mysql_pooled_transaction_sends_no_begin(one_conn_pool: rawdb.Pool) -> None:
    """Two transactions in the same mode back to back: between the two counts only
    the first one's COMMIT and the second count itself reach the server, no
    START TRANSACTION. Switching between read-only and read-write costs the one
    statement START TRANSACTION would have cost."""
    pool = one_conn_pool

    async def count_in(readonly: bool) -> int:
        async with pool.transaction(readonly=readonly) as tx:
            return await _statements_sent(tx)

    await count_in(False)
    before = await count_in(False)
    assert await count_in(False) - before == 2
    before = await count_in(True)
    assert await count_in(True) - before == 2
    before = await count_in(True)
    assert await count_in(False) - before == 3  # COMMIT, the mode switch, the count


@pytest.mark.parametrize("dialect", ["mysql"])
async def test_mysql_read_counts_as_an_open_transaction(one_conn_pool: rawdb.Pool) -> None:
    """With autocommit off the server flags a transaction only once a row is written,
    yet a read already holds locks: rawdb must still know the transaction is open."""
    async with one_conn_pool.transaction(readonly=True) as tx:
        await tx.fetch_val("SELECT count(*) FROM modes")
        assert tx._conn.in_transaction
    async with one_conn_pool.transaction() as tx:
        assert not tx._conn.in_transaction
        await tx.fetch_val("SELECT count(*) FROM modes")
        assert tx._conn.in_transaction
    async with one_conn_pool.connection() as conn:
        await conn.fetch_val("SELECT count(*) FROM modes")
        assert not conn._conn.in_transaction  # autocommit: each statement ended its own


class _ClosingProxy:
    """Forwards to MariaDB; ``close_idle()`` answers each client the way MySQL 8 ends an
    idle session (an error packet, then the socket closed) without the client asking."""

    def __init__(self) -> None:
        self.clients: list[asyncio.StreamWriter] = []
        self.upstreams: list[asyncio.StreamWriter] = []

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", 3306)
        self.clients.append(client_w)
        self.upstreams.append(up_w)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))

    def close_idle(self) -> None:
        message = b"The client was disconnected by the server because of inactivity."
        payload = b"\xff" + struct.pack("<H", 4031) + b"#HY000" + message
        for up in self.upstreams:
            up.close()
        for client in self.clients:
            client.write(struct.pack("<I", len(payload))[:3] + b"\x01" + payload)
            client.close()


@pytest.mark.parametrize("dialect", ["mysql"])
async def test_mysql_session_closed_by_server_while_idle_is_replaced(isolated: IsolatedDatabase) -> None:
    """No START TRANSACTION goes out to discover it, so the pool must see the closed
    socket itself, even with the server's farewell packet still unread."""
    proxy = _ClosingProxy()
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = isolated.url.replace("127.0.0.1:3306", f"127.0.0.1:{port}")
    assert url != isolated.url
    pool = await rawdb.create_pool(url, min_size=1, max_size=1, health_check_after=None, acquire_timeout=10)
    try:
        async with pool.transaction() as tx:
            first = await backend_id(tx)
        (idle,) = pool._slots["any"].idle
        proxy.close_idle()
        # The farewell packet stays unread in the stream's buffer: the EOF behind it counts.
        await eventually(lambda: idle.conn.is_closed, what="the pooled connection to notice the close")
        async with pool.transaction() as tx:
            assert await backend_id(tx) != first
            assert await tx.fetch_val("SELECT 42") == 42
        assert pool.stats().discarded_total == 1
    finally:
        await asyncio.wait_for(pool.close(timeout=5), 30)
        server.close()
