"""SQLite durability (``synchronous``) and per-connection pragmas (``sqlite_pragmas``).

The settings are part of every connection the pool opens: the writer, each reader,
and the connections that replace discarded ones. They are read back from the
connections themselves, mostly through the ``pragma_*()`` table functions, which are
plain SELECTs: reading a setting must not make the pool think the connection changed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import rawdb

TUNED = {"cache_size": -20000, "mmap_size": 268435456, "temp_store": "memory"}
NORMAL = 1
FULL = 2


async def settings(session: rawdb.Session) -> tuple[int, int, int]:
    """synchronous, cache_size and temp_store of the session's connection, without a PRAGMA."""
    row = await session.fetch_one(
        "SELECT (SELECT synchronous FROM pragma_synchronous()), (SELECT cache_size FROM pragma_cache_size()),"
        " (SELECT temp_store FROM pragma_temp_store())")
    return row[0], row[1], row[2]


async def test_default_synchronous_stays_full(tmp_path: Path) -> None:
    async with await rawdb.create_pool(f"sqlite:///{tmp_path / 'db.sqlite'}", max_size=3) as pool:
        assert pool.options.synchronous == "full"
        async with pool.transaction() as tx:
            assert (await settings(tx))[0] == FULL
        async with pool.transaction(readonly=True) as tx:
            assert (await settings(tx))[0] == FULL


async def test_settings_hold_on_the_writer_and_every_reader(tmp_path: Path) -> None:
    async with await rawdb.create_pool(f"sqlite:///{tmp_path / 'db.sqlite'}", max_size=4, synchronous="normal",
                                       sqlite_pragmas=TUNED) as pool:
        async with pool.transaction() as tx:
            assert await settings(tx) == (NORMAL, -20000, 2)
        seen: set[int] = set()
        all_reading = asyncio.Barrier(3)

        async def read() -> tuple[int, int, int]:
            async with pool.transaction(readonly=True) as tx:
                seen.add(id(tx._conn))
                await all_reading.wait()  # three readers open at once: three connections
                return await settings(tx)

        assert await asyncio.gather(read(), read(), read()) == [(NORMAL, -20000, 2)] * 3
        assert len(seen) == 3
        async with pool.connection() as conn:
            assert await settings(conn) == (NORMAL, -20000, 2)
        # Configured settings are not session state: no connection was reset or replaced.
        assert pool.stats().discarded_total == 0


async def test_a_replacement_connection_gets_the_settings_again(tmp_path: Path) -> None:
    """A PRAGMA run by the application is session state: that connection is replaced,
    and the new one has the configured values, not the application's."""
    async with await rawdb.create_pool(f"sqlite:///{tmp_path / 'db.sqlite'}", max_size=2, synchronous="normal",
                                       sqlite_pragmas=TUNED) as pool:
        async with pool.connection() as conn:
            first = id(conn._conn)
            await conn.execute("PRAGMA cache_size = 5")
            await conn.execute("PRAGMA synchronous = FULL")
            assert await conn.fetch_val("PRAGMA mmap_size") == 268435456
            assert await settings(conn) == (FULL, 5, 2)
        async with pool.transaction() as tx:
            assert id(tx._conn) != first
            assert await settings(tx) == (NORMAL, -20000, 2)
            assert await tx.fetch_val("PRAGMA mmap_size") == 268435456
        assert pool.stats().discarded_total >= 1


async def test_memory_database_gets_the_pragmas_too() -> None:
    async with (await rawdb.create_pool("sqlite:///:memory:", sqlite_pragmas={"cache_size": 1234}) as pool,
                pool.transaction() as tx):
        assert (await settings(tx))[1] == 1234


async def test_url_query_form_and_keywords_win(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}?synchronous=NORMAL&sqlite_pragmas=cache_size:-4000,temp_store:memory"
    async with await rawdb.create_pool(url) as pool:
        assert pool.options.sqlite_pragmas == {"cache_size": -4000, "temp_store": "MEMORY"}
        async with pool.transaction() as tx:
            assert await settings(tx) == (NORMAL, -4000, 2)
    async with (await rawdb.create_pool(url, synchronous="extra", sqlite_pragmas={"cache_size": 100}) as pool,
                pool.transaction() as tx):
        assert await settings(tx) == (3, 100, 0)


@pytest.mark.parametrize(("options", "message"), [
    ({"synchronous": "off"}, "'synchronous' cannot be 'off': a power loss"),
    ({"synchronous": "fast"}, "'synchronous' must be 'full', 'normal' or 'extra'"),
    ({"synchronous": 1}, "'synchronous' must be"),
    ({"sqlite_pragmas": {"journal_mode": "delete"}}, "journal_mode cannot be set: rawdb runs file databases in WAL"),
    ({"sqlite_pragmas": {"query_only": 1}}, "query_only cannot be set: rawdb sets it itself"),
    ({"sqlite_pragmas": {"foreign_keys": "off"}}, "foreign_keys cannot be set: rawdb turns foreign key"),
    ({"sqlite_pragmas": {"locking_mode": "exclusive"}}, "locking_mode cannot be set"),
    ({"sqlite_pragmas": {"busy_timeout": 100}}, "use the pool option busy_timeout"),
    ({"sqlite_pragmas": {"synchronous": "normal"}}, "use the pool option synchronous"),
    ({"sqlite_pragmas": {"user_version": 3}}, "migrations keep the schema version"),
    ({"sqlite_pragmas": {"page_size": 8192}}, "stored in the database file"),
    ({"sqlite_pragmas": {"writable_schema": 1}}, "can corrupt the database"),
    ({"sqlite_pragmas": {"recursive_triggers": 1}}, "not a per-connection pragma rawdb sets (allowed: "),
    ({"sqlite_pragmas": {"cache_size; DROP TABLE t": 1}}, "is not a pragma name"),
    ({"sqlite_pragmas": {"main.cache_size": 1}}, "is not a pragma name"),
    ({"sqlite_pragmas": {"cache_size": "1; DROP TABLE t"}}, "cache_size must be a whole number"),
    ({"sqlite_pragmas": {"cache_size": 1.5}}, "cache_size must be a whole number"),
    ({"sqlite_pragmas": {"cache_size": True}}, "cache_size must be a whole number"),
    ({"sqlite_pragmas": {"cache_size": 2**64}}, "out of SQLite's integer range"),
    ({"sqlite_pragmas": {"mmap_size": -1}}, "mmap_size must be >= 0"),
    ({"sqlite_pragmas": {"temp_store": "disk"}}, "temp_store must be one of 'default', 'file', 'memory'"),
    ({"sqlite_pragmas": {"temp_store": "memory; DROP TABLE t"}}, "temp_store must be one of"),
    ({"sqlite_pragmas": {"automatic_index": "maybe"}}, "automatic_index must be on or off"),
    ({"sqlite_pragmas": ["cache_size"]}, "'sqlite_pragmas' must be a mapping"),
    ({"sqlite_pragmas": "cache_size"}, "must be written name:value"),
])
async def test_bad_settings_raise_config_error_saying_why(tmp_path: Path, options: dict[str, Any],
                                                          message: str) -> None:
    path = tmp_path / "db.sqlite"
    with pytest.raises(rawdb.ConfigError) as info:
        await rawdb.create_pool(f"sqlite:///{path}", **options)
    assert message in str(info.value)
    assert not path.exists()  # refused before any connection was opened


async def test_bad_settings_in_the_url_are_refused_too(tmp_path: Path) -> None:
    with pytest.raises(rawdb.ConfigError, match="journal_mode cannot be set"):
        await rawdb.create_pool(f"sqlite:///{tmp_path / 'db.sqlite'}?sqlite_pragmas=journal_mode:delete")
    with pytest.raises(rawdb.ConfigError, match="cannot be 'off'"):
        await rawdb.create_pool(f"sqlite:///{tmp_path / 'db.sqlite'}?synchronous=off")


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:5432/test", "mysql://root@127.0.0.1:3306/test"])
@pytest.mark.parametrize("options", [{"synchronous": "normal"}, {"sqlite_pragmas": {"cache_size": 10}}])
async def test_sqlite_settings_on_a_server_url_are_refused(url: str, options: dict[str, Any]) -> None:
    with pytest.raises(rawdb.ConfigError, match="applies to SQLite only"):
        await rawdb.create_pool(url, **options)
