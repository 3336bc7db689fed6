"""Read replicas on real servers: routing, read-your-writes, lag, health, failover.

A PostgreSQL primary streams to two standbys (one replaying at once, one held 2 s
behind by ``recovery_min_apply_delay``), and a MariaDB primary to a GTID replica
held 2 s behind by ``MASTER_DELAY``: read-your-writes is proven against replicas
known to be behind. The failover scenario builds its own primary and standby,
since it promotes one and stops the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest

import rawdb

from .conftest import Figures, need
from .replication import MariaDBPrimary, MariaDBReplica, PostgresPrimary, PostgresStandby
from .servers import MARIADB_INSTALL_DB, MARIADBD, PG_BIN, ThrowawayServer, free_port
from .workload import Workload, summarize

pytestmark = pytest.mark.faults

DELAY_S = 2.0
PASSWORD = "S3cret-Pw-7741"  # trust authentication ignores it; it must never be shown


class PgCluster:
    def __init__(self) -> None:
        self.primary = PostgresPrimary()
        self.standby = PostgresStandby(self.primary)
        self.delayed = PostgresStandby(self.primary, apply_delay=DELAY_S)

    def servers(self) -> list[ThrowawayServer]:
        return [self.delayed, self.standby, self.primary]


class MariaDBCluster:
    def __init__(self) -> None:
        self.primary = MariaDBPrimary()
        self.delayed = MariaDBReplica(self.primary, delay=int(DELAY_S))

    def servers(self) -> list[ThrowawayServer]:
        return [self.delayed, self.primary]


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[PgCluster]:
    need(PG_BIN / "initdb", PG_BIN / "postgres", PG_BIN / "pg_basebackup", PG_BIN / "pg_ctl",
         what="PostgreSQL 15 with pg_basebackup")
    cluster = PgCluster()
    try:
        cluster.primary.start()
        cluster.standby.start()
        cluster.delayed.start()
        asyncio.run(_pg_seed(cluster))
        yield cluster
    finally:
        for server in cluster.servers():
            server.cleanup()


async def _pg_seed(cluster: PgCluster) -> None:
    # A replayed transaction gives each standby a replay timestamp, hence a known lag.
    await cluster.primary.admin("CREATE TABLE seed (id int PRIMARY KEY)")
    await cluster.standby.wait_caught_up()
    await cluster.delayed.wait_caught_up()


@pytest.fixture(scope="module")
def mariadb_cluster() -> Iterator[MariaDBCluster]:
    need(MARIADBD, MARIADB_INSTALL_DB, what="MariaDB")
    cluster = MariaDBCluster()
    try:
        cluster.primary.start()
        cluster.delayed.start()
        asyncio.run(_mariadb_seed(cluster))
        yield cluster
    finally:
        for server in cluster.servers():
            server.cleanup()


async def _mariadb_seed(cluster: MariaDBCluster) -> None:
    # A user with a password (root has none here), replicated like everything else.
    await cluster.primary.admin(f"CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
    await cluster.primary.admin("GRANT ALL ON *.* TO 'app'@'127.0.0.1'")
    await cluster.delayed.wait_caught_up()


@pytest.fixture(params=["postgresql", "mysql"])
def cluster(request: pytest.FixtureRequest) -> PgCluster | MariaDBCluster:
    found: PgCluster | MariaDBCluster = request.getfixturevalue(
        "pg_cluster" if request.param == "postgresql" else "mariadb_cluster")
    for server in found.servers():
        server.ensure_running()
    return found


def with_password(url: str) -> str:
    """The URL as a user with a password (PostgreSQL's trust authentication ignores it)."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{'app' if scheme == 'mysql' else user}:{PASSWORD}@{host}"


def replica_address(server: ThrowawayServer) -> str:
    return f"127.0.0.1:{server.port}"


@contextlib.asynccontextmanager
async def table(pool: rawdb.Pool, wait_for: list[PostgresStandby | MariaDBReplica]) -> AsyncIterator[str]:
    """A fresh table, created on the primary and replayed by the given replicas."""
    name = "rep_" + uuid.uuid4().hex[:10]
    async with pool.connection() as conn:
        await conn.execute_verbatim(f"CREATE TABLE {name} (id BIGINT PRIMARY KEY, note VARCHAR(40))")
    for replica in wait_for:
        await replica.wait_caught_up()
    try:
        yield name
    finally:
        async with pool.connection() as conn:
            await conn.execute_verbatim(f"DROP TABLE IF EXISTS {name}")


async def write_then_read(writer: rawdb.Pool, reader: rawdb.Pool, name: str, *, pairs: int = 1000,
                          tasks: int = 32, token: bool = False) -> tuple[int, Counter[str]]:
    """``pairs`` inserts, each followed by a read-only transaction looking for its row.

    Returns the reads that missed their own write, and where the reads ran."""
    ids = iter(range(pairs))
    misses = 0
    where: Counter[str] = Counter()

    async def worker() -> None:
        nonlocal misses
        for i in ids:
            async with writer.transaction() as tx:
                await tx.execute(f"INSERT INTO {name} (id, note) VALUES (:id, 'pair')", {"id": i})
            after = tx.commit_token() if token else None
            async with reader.transaction(readonly=True, after=after) as rtx:
                found = await rtx.fetch_val(f"SELECT count(*) FROM {name} WHERE id = :id", {"id": i})
                where["replica" if rtx.replica else "primary"] += 1  # type: ignore[attr-defined]
            if found != 1:
                misses += 1

    async with asyncio.timeout(120):
        await asyncio.gather(*(worker() for _ in range(tasks)))
    return misses, where


def in_recovery_sql(dialect: str) -> str:
    return "SELECT pg_is_in_recovery()" if dialect == "postgresql" else "SELECT @@read_only = 1"


def delayed_replica(cluster: PgCluster | MariaDBCluster) -> PostgresStandby | MariaDBReplica:
    return cluster.delayed


# -- routing ---------------------------------------------------------------------------------------
async def test_reads_on_replica_writes_on_primary(cluster: PgCluster | MariaDBCluster) -> None:
    primary = cluster.primary
    replica = delayed_replica(cluster)
    dialect = primary.dialect
    async with asyncio.timeout(60):
        pool = await rawdb.create_pool(primary.url, replicas=[replica_address(replica)], max_size=4)
        try:
            async with table(pool, [replica]) as name:
                await asyncio.sleep(DELAY_S + 0.5)  # nothing of this pool left to replay
                for _ in range(5):
                    async with pool.transaction(readonly=True) as tx:
                        assert tx.replica is not None  # type: ignore[attr-defined]
                        assert await tx.fetch_val(in_recovery_sql(dialect)) in (True, 1)
                    async with pool.transaction() as tx:
                        await tx.fetch_val(f"SELECT count(*) FROM {name}")
                        assert await tx.fetch_val(in_recovery_sql(dialect)) in (False, 0)
                    async with pool.transaction(readonly=True, primary=True) as tx:
                        assert await tx.fetch_val(in_recovery_sql(dialect)) in (False, 0)
                    async with pool.connection() as conn:
                        assert await conn.fetch_val(in_recovery_sql(dialect)) in (False, 0)
                with pytest.raises(rawdb.ReadOnlyViolation):
                    async with pool.transaction(readonly=True) as tx:
                        await tx.execute(f"INSERT INTO {name} (id, note) VALUES (1, 'x')")
                for i in range(10, 15):  # autocommit writes are read back too
                    async with pool.connection() as conn:
                        await conn.execute(f"INSERT INTO {name} (id, note) VALUES (:i, 'conn')", {"i": i})
                    async with pool.transaction(readonly=True) as tx:
                        assert await tx.fetch_val(f"SELECT count(*) FROM {name} WHERE id = :i", {"i": i}) == 1
            stats = pool.stats()
            assert stats.routing is not None and stats.routing.replica_reads_total >= 5
            assert [r.state for r in stats.replicas] == ["up"]
            assert stats.replicas[0].handouts_total >= 5 and stats.replicas[0].in_use == 0
        finally:
            await pool.close()


# -- read-your-writes ----------------------------------------------------------------------------------
async def test_read_your_writes_against_a_delayed_replica(cluster: PgCluster | MariaDBCluster,
                                                         figures: Figures) -> None:
    """1,000 write-then-read pairs from 32 tasks: none misses its write (replica 2 s behind);
    across two pools with the commit token neither; without read-your-writes, many do."""
    primary = cluster.primary
    replica = delayed_replica(cluster)
    dialect = primary.dialect
    async with asyncio.timeout(240):
        pool = await rawdb.create_pool(primary.url, replicas=[replica_address(replica)], max_size=16)
        reader = await rawdb.create_pool(primary.url, replicas=[replica_address(replica)], max_size=16)
        blind = await rawdb.create_pool(primary.url, replicas=[replica_address(replica)], max_size=16,
                                        read_your_writes=False)
        try:
            async with table(pool, [replica]) as name:
                await asyncio.sleep(DELAY_S + 0.5)
                started = time.monotonic()
                misses, where = await write_then_read(pool, pool, name)
                same_pool_s = time.monotonic() - started
                stats = pool.stats()
                assert misses == 0, f"{misses} reads missed their own write; {where}; {stats.routing}"
                assert stats.replicas[0].state in ("up", "lagging")
                figures.record("R1 read-your-writes, one pool (replica 2 s behind)", dialect,
                               attempted=1000, committed=1000 - misses, seconds=same_pool_s,
                               note=f"reads {dict(where)}; {stats.routing}")

                async with pool.connection() as conn:
                    await conn.execute_verbatim(f"DELETE FROM {name}")
                misses, where = await write_then_read(pool, reader, name, token=True)
                assert misses == 0, f"{misses} reads missed the write behind their token; {where}"
                figures.record("R2 read-your-writes, token across pools", dialect,
                               attempted=1000, committed=1000 - misses, note=f"reads {dict(where)}")

                async with pool.connection() as conn:
                    await conn.execute_verbatim(f"DELETE FROM {name}")
                await asyncio.sleep(DELAY_S + 0.5)
                misses, where = await write_then_read(blind, blind, name, pairs=200)
                assert misses > 0, f"read_your_writes=False never missed a write: {where}"
                assert where["replica"] > 0
                figures.record("R3 read_your_writes=False (control)", dialect, attempted=200,
                               committed=200 - misses, failed={"missed its write": misses},
                               note=f"reads {dict(where)}")
        finally:
            await blind.close()
            await reader.close()
            await pool.close()


async def test_read_your_writes_uses_a_replica_that_keeps_up(pg_cluster: PgCluster, figures: Figures) -> None:
    """With a standby that replays at once beside the delayed one, reads that see
    their own writes are mostly served by replicas, not the primary."""
    for server in pg_cluster.servers():
        server.ensure_running()
    primary = pg_cluster.primary
    async with asyncio.timeout(120):
        pool = await rawdb.create_pool(
            primary.url, replicas=[replica_address(pg_cluster.standby), replica_address(pg_cluster.delayed)],
            max_size=16)
        try:
            async with table(pool, [pg_cluster.standby, pg_cluster.delayed]) as name:
                await asyncio.sleep(DELAY_S + 0.5)
                misses, where = await write_then_read(pool, pool, name, pairs=500)
                stats = pool.stats()
        finally:
            await pool.close()
    assert misses == 0, f"{misses} reads missed their own write; {where}; {stats.routing}"
    assert where["replica"] > where["primary"], (where, stats.routing)
    figures.record("R4 read-your-writes, standby + delayed standby", "postgresql", attempted=500,
                   committed=500 - misses, note=f"reads {dict(where)}; {stats.routing}")


# -- lag -------------------------------------------------------------------------------------------------
async def test_lagging_replica_takes_no_reads(cluster: PgCluster | MariaDBCluster) -> None:
    primary = cluster.primary
    replica = delayed_replica(cluster)
    async with asyncio.timeout(90):
        pool = await rawdb.create_pool(primary.url, replicas=[replica_address(replica)], max_replica_lag=1.0,
                                       replica_check_interval=0.2, read_your_writes=False)
        try:
            async with table(pool, [replica]) as name:
                await asyncio.sleep(DELAY_S + 0.5)
                async with pool.transaction(readonly=True) as tx:
                    assert tx.replica is not None  # type: ignore[attr-defined]
                deadline = time.monotonic() + 10
                i = 0
                while pool.stats().replicas[0].state != "lagging":  # writes keep it 2 s behind
                    assert time.monotonic() < deadline, f"never lagging: {pool.stats().replicas}"
                    i += 1
                    async with pool.transaction() as tx:
                        await tx.execute(f"INSERT INTO {name} (id, note) VALUES (:i, 'lag')", {"i": i})
                    await asyncio.sleep(0.05)
                for _ in range(5):
                    async with pool.transaction(readonly=True) as tx:
                        assert tx.replica is None  # type: ignore[attr-defined]
                assert pool.stats().routing.unavailable_fallbacks_total >= 5  # type: ignore[union-attr]
                # Once the writes stop and it has replayed them, it takes reads again.
                deadline = time.monotonic() + DELAY_S + 5
                while pool.stats().replicas[0].state != "up":
                    assert time.monotonic() < deadline, f"never back: {pool.stats().replicas}"
                    await asyncio.sleep(0.1)
                async with pool.transaction(readonly=True) as tx:
                    assert tx.replica is not None  # type: ignore[attr-defined]
        finally:
            await pool.close()


# -- health ----------------------------------------------------------------------------------------------
async def test_replica_killed_under_read_load(cluster: PgCluster | MariaDBCluster, figures: Figures) -> None:
    """16 tasks read while the replica is SIGKILLed and restarted: no reader sees an
    error (reads move to the primary), and the replica is back in rotation soon after."""
    primary = cluster.primary
    replica = cluster.standby if isinstance(cluster, PgCluster) else cluster.delayed
    dialect = primary.dialect
    errors: Counter[str] = Counter()
    where: Counter[str] = Counter()
    stop = asyncio.Event()

    async def reader(pool: rawdb.Pool, name: str) -> None:
        while not stop.is_set():
            try:
                async with asyncio.timeout(15), pool.transaction(readonly=True) as tx:
                    await tx.fetch_val(f"SELECT count(*) FROM {name}")
                    await tx.fetch_val(in_recovery_sql(dialect))  # a second statement: killed between the two
                    where["replica" if tx.replica else "primary"] += 1  # type: ignore[attr-defined]
            except Exception as exc:
                errors[f"{type(exc).__name__}: {exc}"[:200]] += 1
                await asyncio.sleep(0.01)

    async with asyncio.timeout(120):
        pool = await rawdb.create_pool(primary.url, replicas=[replica_address(replica)], max_size=16,
                                       acquire_timeout=10, connect_timeout=2, replica_check_interval=0.5)
        try:
            async with table(pool, [replica]) as name:
                await asyncio.sleep(DELAY_S + 0.5)
                tasks = [asyncio.create_task(reader(pool, name)) for _ in range(16)]
                try:
                    await asyncio.sleep(1.0)
                    before = where["replica"]
                    assert before > 0, f"no read reached the replica: {where} {pool.stats().replicas}"
                    await asyncio.to_thread(replica.kill)
                    await asyncio.sleep(2.0)
                    down = pool.stats().replicas[0]
                    assert down.state == "down", down
                    on_primary = where["primary"]
                    back_at = await asyncio.to_thread(replica.start)
                    handouts = pool.stats().replicas[0].handouts_total
                    while pool.stats().replicas[0].handouts_total == handouts:
                        assert time.monotonic() - back_at < 5, f"not back within 5 s: {pool.stats().replicas}"
                        await asyncio.sleep(0.05)
                    back_s = time.monotonic() - back_at
                    await asyncio.sleep(0.5)
                finally:
                    stop.set()
                    await asyncio.gather(*tasks)
            stats = pool.stats()
        finally:
            await pool.close()
            replica.ensure_running()
    figures.record("R5 replica SIGKILLed under 16 readers", dialect, attempted=sum(where.values()),
                   committed=sum(where.values()), failed=errors, recover_s=back_s,
                   note=f"reads {dict(where)}; moved {stats.routing.moved_total if stats.routing else 0}")
    assert not errors, f"readers saw errors: {dict(errors)}"
    assert where["primary"] >= on_primary > 0
    assert stats.replicas[0].down_total >= 1


# -- failover ---------------------------------------------------------------------------------------------
async def test_failover_to_promoted_standby(figures: Figures) -> None:
    """A multi-host primary URL: the primary stops, the standby is promoted; in-flight
    transactions fail with ConnectionLost, none succeeds falsely, none hangs, and new
    ones commit within 5 s of the promotion. A write sent to a standby is refused."""
    need(PG_BIN / "initdb", PG_BIN / "pg_basebackup", PG_BIN / "pg_ctl", what="PostgreSQL 15 with pg_ctl")
    primary = PostgresPrimary()
    standby = PostgresStandby(primary)
    try:
        primary.start()
        standby.start()
        hosts = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/postgres"
        async with asyncio.timeout(120):
            on_standby = await rawdb.create_pool(with_password(standby.url), max_size=1)
            pool = await rawdb.create_pool(hosts, min_size=4, max_size=8, acquire_timeout=5.0, connect_timeout=2.0)
            load = Workload(pool, Workload.new_table(), workers=8, guard=10.0)
            try:
                await load.create_table()
                await standby.wait_caught_up()
                started = time.monotonic()
                write = f"INSERT INTO {load.table} (id, worker, note) VALUES (-1, -1, 'standby')"
                with pytest.raises(rawdb.ReadOnlyViolation):
                    async with asyncio.timeout(5), on_standby.transaction() as tx:
                        await tx.execute(write)
                load.start()
                await asyncio.sleep(1.5)
                assert load.committed_ids(), f"nothing committed before the failover: {load.failures()}"
                await asyncio.to_thread(primary.stop, True)
                stopped_at = time.monotonic()
                await asyncio.sleep(0.5)
                promoted_at = await asyncio.to_thread(standby.promote)
                await asyncio.sleep(6.0)
                await load.stop()
                elapsed = time.monotonic() - started
                stored = await load.stored_ids()
                async with pool.transaction() as tx:
                    assert await tx.fetch_val("SELECT pg_is_in_recovery()") is False
            finally:
                await on_standby.close()
                await pool.close()
    finally:
        standby.cleanup()
        primary.cleanup()
    recover = load.first_commit_after(promoted_at)
    lost = [a for a in load.attempts if a.outcome == "ConnectionLost"]
    unknown_kept = sum(1 for a in lost if a.row_id in stored)
    figures.record("R6 primary stopped, standby promoted (8 writers)", "postgresql",
                   attempted=len(load.attempts), committed=len(load.committed_ids()), failed=load.failures(),
                   recover_s=recover, seconds=elapsed,
                   note=f"promoted {promoted_at - stopped_at:.1f}s after the stop; ConnectionLost rows "
                        f"found stored: {unknown_kept}")
    bad = load.bad()
    assert not bad, "hung or untyped failures:\n" + summarize(bad)
    missing = sorted(load.committed_ids() - stored)
    assert not missing, f"{len(missing)} commits reported but not on the new primary: {missing[:10]}"
    assert recover is not None and recover <= 5.0, f"first commit {recover}s after the promotion"
    late = load.failed_started_after(promoted_at + 5.0)
    assert not late, "transactions still failing 5 s after the promotion:\n" + summarize(late)


# -- configuration ---------------------------------------------------------------------------------------
async def test_replica_problems_at_start(cluster: PgCluster | MariaDBCluster,
                                         caplog: pytest.LogCaptureFixture) -> None:
    """An unreachable replica and a replica that is a primary are logged and left out;
    a wrong dialect is a ConfigError. No password shows anywhere."""
    primary = cluster.primary
    dialect = primary.dialect
    url = with_password(primary.url)
    dead = f"127.0.0.1:{free_port()}"
    other = "mysql://root:{p}@127.0.0.1:3306/test" if dialect == "postgresql" else \
        "postgresql://postgres:{p}@127.0.0.1:5432/test"
    with pytest.raises(rawdb.ConfigError) as wrong:
        await rawdb.create_pool(url, replicas=[other.format(p=PASSWORD)])
    assert "dialect" in str(wrong.value) and PASSWORD not in str(wrong.value)
    no_such_database = with_password(delayed_replica(cluster).url).rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(rawdb.ConfigError) as wrong:  # retrying cannot help: said at start
        await rawdb.create_pool(url, replicas=[no_such_database], connect_timeout=5)
    assert "no_such_db" in str(wrong.value) and PASSWORD not in str(wrong.value)
    caplog.set_level(logging.INFO, logger="rawdb.replicas")
    async with asyncio.timeout(60):
        pool = await rawdb.create_pool(url, replicas=[dead, with_password(primary.url)], connect_timeout=2,
                                       replica_check_interval=0.3)
        try:
            states = {r.url: r.state for r in pool.stats().replicas}
            assert sorted(states.values()) == ["down", "not_replica"], states
            async with pool.transaction(readonly=True) as tx:
                assert tx.replica is None  # type: ignore[attr-defined]
                assert await tx.fetch_val("SELECT 1") == 1
            await asyncio.sleep(0.7)  # probes keep running, and keep failing quietly
            shown = " ".join([repr(pool), str(pool.stats()), caplog.text,
                              *(r.last_error or "" for r in pool.stats().replicas)])
        finally:
            await pool.close()
    assert "is down" in caplog.text and "is a primary, not a replica" in caplog.text
    assert dead in caplog.text
    assert PASSWORD not in shown
    assert PASSWORD not in caplog.text
