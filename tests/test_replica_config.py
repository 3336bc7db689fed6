"""Replica and multi-host configuration: parsed strictly, passwords never shown."""

from __future__ import annotations

import pytest

import rawdb
from rawdb.config import parse_url


def test_multi_host_postgresql_url() -> None:
    url, query = parse_url("postgresql://app:s3cret@db1:5432,db2:5433,[::1]/prod?max_size=5")
    assert url.hosts == (("db1", 5432), ("db2", 5433), ("::1", None))
    assert (url.host, url.port, url.user, url.database) == ("db1", 5432, "app", "prod")
    assert query == {"max_size": "5"}
    assert url.redacted() == "postgresql://app:***@db1:5432,db2:5433,[::1]/prod"
    assert "s3cret" not in repr(url) and "s3cret" not in str(url)


def test_single_host_url_has_no_host_list() -> None:
    url, _ = parse_url("postgresql://app@db1:5432/prod")
    assert url.hosts == () and url.netloc() == "db1:5432"


@pytest.mark.parametrize("url", ["mysql://root@h1:3306,h2:3307/test", "postgresql://u@h1:99999,h2/db",
                                 "postgresql://u@h1,,h2/db"])
def test_bad_multi_host_urls(url: str) -> None:
    with pytest.raises(rawdb.ConfigError):
        parse_url(url)


# -- replicas -----------------------------------------------------------------------------------------
async def test_sqlite_has_no_replicas(tmp_path: object) -> None:
    with pytest.raises(rawdb.ConfigError, match="SQLite has no replicas"):
        await rawdb.create_pool("sqlite:///:memory:", replicas=["127.0.0.1:5433"])
    with pytest.raises(rawdb.ConfigError, match="SQLite has no replicas"):
        await rawdb.create_pool("sqlite:///:memory:?replica=127.0.0.1:5433")


@pytest.mark.parametrize("replica", ["mysql://root:s3cret@db2/test", "sqlite:///x.db",
                                     "postgresql://u:s3cret@h1,h2/db", "postgresql://u:s3cret@h1/db?max_size=3",
                                     "db2:notaport", ""])
async def test_bad_replica_urls(replica: str) -> None:
    with pytest.raises(rawdb.ConfigError) as info:
        await rawdb.create_pool("postgresql://app:s3cret@db1/prod", replicas=[replica])
    assert "s3cret" not in str(info.value)


async def test_replicas_must_be_a_list() -> None:
    with pytest.raises(rawdb.ConfigError, match="list"):
        await rawdb.create_pool("postgresql://app@db1/prod", replicas="db2:5432")


def test_replica_urls_inherit_from_the_primary() -> None:
    from rawdb.replication.urls import replica_urls, split_replica_query

    url, found = split_replica_query("postgresql://app:pw@db1/prod?max_size=4&replica=db2:5433&replica=db3")
    assert url == "postgresql://app:pw@db1/prod?max_size=4" and found == ["db2:5433", "db3"]
    primary, _ = parse_url(url)
    urls = replica_urls(primary, [*found, "postgresql://other@db4/prod", "postgresql://db5"])
    assert [(u.host, u.port, u.user, u.password, u.database) for u in urls] == [
        ("db2", 5433, "app", "pw", "prod"), ("db3", None, "app", "pw", "prod"),
        ("db4", None, "other", None, "prod"), ("db5", None, "app", "pw", "prod")]
    with pytest.raises(rawdb.ConfigError, match="twice"):
        replica_urls(primary, ["db2:5433", "postgresql://x@db2:5433/prod"])


def test_positions_and_tokens() -> None:
    from rawdb.replication.positions import (
        LSN,
        NOTHING_TOKEN,
        PRIMARY,
        PRIMARY_TOKEN,
        GTIDPosition,
        combine,
        parse_token,
        token_for,
    )

    a, b = LSN.parse("0/3001178"), LSN.parse("1/0")
    assert b.covers(a) and not a.covers(b) and a.merge(b) is b and a.text() == "0/3001178"
    assert parse_token(a.token()) == a
    g1, g2 = GTIDPosition.parse("0-1-5,1-2-7"), GTIDPosition.parse("0-1-6")
    assert not g1.covers(g2) and not g2.covers(g1)
    both = g1.merge(g2)
    assert both.covers(g1) and both.covers(g2) and both.text() == "0-1-6,1-2-7"
    assert parse_token(both.token()) == both
    assert parse_token(NOTHING_TOKEN) is None and parse_token(PRIMARY_TOKEN) is PRIMARY
    assert token_for(None) == NOTHING_TOKEN and combine(a, PRIMARY) is PRIMARY and combine(None, a) is a
    for bad in ("", "0/1", "rawdb1:lsn:zz", "rawdb1:gtid:1-2", "rawdb1:what:1"):
        with pytest.raises(rawdb.InterfaceError):
            parse_token(bad)


def test_mariadb_session_state_parsing() -> None:
    from rawdb.replication.mariadb import tracked_variables

    # The OK packet tail of a COMMIT with last_gtid tracked, as MariaDB 10.11 sends it.
    assert tracked_variables(b"\x00\x12\x00\x10\tlast_gtid\x050-1-4") == {"last_gtid": "0-1-4"}
    assert tracked_variables(b"") == {} and tracked_variables(b"\x00") == {}
    assert tracked_variables(b"\x00\x12\x00\x10\tlast_g") == {}


async def test_commit_token_without_replicas(tmp_path: object) -> None:
    async with await rawdb.create_pool("sqlite:///:memory:") as pool:
        async with pool.transaction() as tx:
            with pytest.raises(rawdb.InterfaceError):
                tx.commit_token()
            await tx.fetch_val("SELECT 1")
        token = tx.commit_token()  # nothing tracked here: a reader elsewhere asks the primary
        async with pool.transaction(readonly=True, after=token) as rtx:
            assert await rtx.fetch_val("SELECT 1") == 1
