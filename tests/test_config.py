"""URLs and pool options: every accepted spelling, strict validation, sane defaults."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

import pytest

import rawdb
from rawdb.config import PoolOptions, build_options, parse_url


class IsolatedDatabase(Protocol):
    """The `isolated` fixture of conftest.py (not importable: several conftest modules exist)."""

    dialect: str
    url: str
    options: dict[str, Any]
    name: str

    async def pool(self, **options: Any) -> rawdb.Pool: ...

# -- URL forms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative.db", "relative.db"),
        ("sqlite:///sub/dir/relative.db", "sub/dir/relative.db"),
        ("sqlite:////abs/path.db", "/abs/path.db"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite+aiosqlite:///relative.db", "relative.db"),
        ("sqlite+aiosqlite:////abs/path.db", "/abs/path.db"),
        ("SQLITE:///upper.db", "upper.db"),
    ],
)
def test_sqlite_url_forms(url: str, path: str) -> None:
    parsed, query = parse_url(url)
    assert parsed.dialect == "sqlite"
    assert parsed.path == path
    assert query == {}


@pytest.mark.parametrize(
    ("url", "dialect"),
    [
        ("postgresql://u:pw@db.example:5433/app", "postgresql"),
        ("postgres://u:pw@db.example:5433/app", "postgresql"),
        ("postgresql+asyncpg://u:pw@db.example:5433/app", "postgresql"),
        ("mysql://u:pw@db.example:5433/app", "mysql"),
        ("mariadb://u:pw@db.example:5433/app", "mysql"),
        ("mysql+aiomysql://u:pw@db.example:5433/app", "mysql"),
    ],
)
def test_server_url_forms(url: str, dialect: str) -> None:
    parsed, query = parse_url(url)
    assert (parsed.dialect, parsed.host, parsed.port, parsed.user, parsed.password, parsed.database) == (
        dialect, "db.example", 5433, "u", "pw", "app")
    assert query == {}


def test_url_parts_are_percent_decoded() -> None:
    parsed, _ = parse_url("postgresql://us%40er:p%40ss%2Fw%3Ard@h/my%20db")
    assert (parsed.user, parsed.password, parsed.database) == ("us@er", "p@ss/w:rd", "my db")
    parsed, _ = parse_url("sqlite:///dir%20with%20space/x.db")
    assert parsed.path == "dir with space/x.db"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("oracle://u@h/db", "oracle"),
        ("not a url", "URL"),
        ("sqlite://relative.db", "sqlite:///"),
        ("sqlite:///", "no file"),
        ("postgresql://h:notaport/db", "port"),
    ],
)
def test_invalid_urls(url: str, fragment: str) -> None:
    with pytest.raises(rawdb.ConfigError, match=fragment):
        parse_url(url)


async def test_relative_and_absolute_sqlite_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with await rawdb.create_pool("sqlite:///relative.db") as pool, pool.connection() as conn:
        await conn.execute_verbatim("CREATE TABLE t (x INTEGER)")
    assert (tmp_path / "relative.db").is_file()

    absolute = tmp_path / "nested" / "abs.db"
    absolute.parent.mkdir()
    url = f"sqlite:///{absolute}"
    assert url.startswith("sqlite:////")
    monkeypatch.chdir(absolute.parent.parent.parent)  # elsewhere: the path must not be relative
    async with await rawdb.create_pool(url) as pool, pool.connection() as conn:
        await conn.execute_verbatim("CREATE TABLE t (x INTEGER)")
    assert absolute.is_file()


async def test_sqlite_file_in_missing_directory_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(rawdb.ConfigError, match="missing_dir"):
        await rawdb.create_pool(f"sqlite:///{tmp_path}/missing_dir/x.db")


ALTERNATIVE_SCHEMES = {
    "sqlite": ("sqlite+aiosqlite",),
    "postgresql": ("postgres", "postgresql+asyncpg"),
    "mysql": ("mariadb", "mysql+aiomysql"),
}


async def test_every_scheme_spelling_connects(isolated: IsolatedDatabase) -> None:
    scheme, rest = isolated.url.split("://", 1)
    for alternative in (scheme, *ALTERNATIVE_SCHEMES[isolated.dialect]):
        pool = await rawdb.create_pool(f"{alternative}://{rest}", **isolated.options)
        async with pool:
            assert pool.dialect.name == isolated.dialect
            async with pool.transaction() as tx:
                assert await tx.fetch_val("SELECT 41 + 1") == 42


# -- options ------------------------------------------------------------------------------


def test_defaults_are_finite() -> None:
    options = build_options({}, {})
    assert options == PoolOptions()
    assert options.acquire_timeout == 30
    assert math.isfinite(options.acquire_timeout)
    assert options.connect_timeout > 0 and math.isfinite(options.connect_timeout)


def test_query_string_options_are_converted() -> None:
    _, query = parse_url("postgresql://h/db?max_size=3&acquire_timeout=2.5&max_lifetime=none"
                         "&min_size=0&command_timeout=1.5")
    options = build_options(query, {})
    assert options.max_size == 3 and type(options.max_size) is int
    assert options.acquire_timeout == 2.5 and type(options.acquire_timeout) is float
    assert options.max_lifetime is None
    assert options.min_size == 0
    assert options.command_timeout == 1.5


def test_keywords_win_over_the_query_string() -> None:
    _, query = parse_url("mysql://h/db?max_size=3&acquire_timeout=2.5")
    options = build_options(query, {"max_size": 7})
    assert options.max_size == 7
    assert options.acquire_timeout == 2.5


async def test_create_pool_merges_url_and_keyword_options(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/opts.db?max_size=3&busy_timeout=1.5&acquire_timeout=4"
    async with await rawdb.create_pool(url, acquire_timeout=6) as pool:
        assert pool.options.max_size == 3
        assert pool.options.acquire_timeout == 6.0
        assert pool.options.busy_timeout == 1.5
        async with pool.transaction() as tx:
            assert await tx.fetch_val("PRAGMA busy_timeout") == 1500
    async with await rawdb.create_pool(f"sqlite:///{tmp_path}/opts.db") as pool:
        assert pool.options.acquire_timeout == 30


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"max_sise": 3}, "max_sise"),
        ({"timeout": 3}, "timeout"),
        ({"max_size": "many"}, "max_size"),
        ({"max_size": 3.5}, "max_size"),
        ({"max_size": True}, "max_size"),
        ({"max_size": 0}, "max_size"),
        ({"max_size": None}, "max_size"),
        ({"max_size": [3]}, "max_size"),
        ({"min_size": -1}, "min_size"),
        ({"min_size": 5, "max_size": 2}, "min_size"),
        ({"acquire_timeout": -1}, "acquire_timeout"),
        ({"acquire_timeout": 0}, "acquire_timeout"),
        ({"acquire_timeout": math.nan}, "acquire_timeout"),
        ({"acquire_timeout": math.inf}, "acquire_timeout"),
        ({"acquire_timeout": None}, "acquire_timeout"),
        ({"acquire_timeout": "soon"}, "acquire_timeout"),
        ({"max_lifetime": math.nan}, "max_lifetime"),
        ({"max_lifetime": -5}, "max_lifetime"),
        ({"idle_timeout": 0}, "idle_timeout"),
        ({"command_timeout": -0.5}, "command_timeout"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"busy_timeout": -1}, "busy_timeout"),
        ({"busy_timeout": math.nan}, "busy_timeout"),
        ({"health_check_after": -1}, "health_check_after"),
        ({"max_waiting": -1}, "max_waiting"),
        ({"leak_threshold": 0}, "leak_threshold"),
        ({"statement_cache_size": -1}, "statement_cache_size"),
        ({"statement_cache_size": math.nan}, "statement_cache_size"),
        ({"connect_options": "ssl=true"}, "connect_options"),
    ],
)
def test_invalid_keyword_options_name_the_option(options: dict[str, Any], name: str) -> None:
    with pytest.raises(rawdb.ConfigError, match=name):
        build_options({}, options)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("max_sise=3", "max_sise"),
        ("sslmode=disable", "sslmode"),
        ("max_size=abc", "max_size"),
        ("max_size=2.5", "max_size"),
        ("acquire_timeout=nan", "acquire_timeout"),
        ("acquire_timeout=inf", "acquire_timeout"),
        ("acquire_timeout=-3", "acquire_timeout"),
        ("acquire_timeout=", "acquire_timeout"),
        ("min_size=4&max_size=2", "min_size"),
        ("connect_options=x", "connect_options"),
    ],
)
def test_invalid_query_options_name_the_option(query: str, name: str) -> None:
    _, parsed = parse_url(f"postgresql://h/db?{query}")
    with pytest.raises(rawdb.ConfigError, match=name):
        build_options(parsed, {})


async def test_create_pool_rejects_bad_options_before_connecting(tmp_path: Path) -> None:
    target = tmp_path / "never.db"
    with pytest.raises(rawdb.ConfigError, match="max_sise"):
        await rawdb.create_pool(f"sqlite:///{target}", max_sise=3)
    with pytest.raises(rawdb.ConfigError, match="acquire_timeout"):
        await rawdb.create_pool(f"sqlite:///{target}?acquire_timeout=nan")
    assert not target.exists()


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="max_size"):
        build_options({}, {"max_size": -3})


async def test_unknown_driver_connect_option_is_config_error(isolated: IsolatedDatabase) -> None:
    # connect_options go to the driver; a typo there is a configuration error like any other
    with pytest.raises(rawdb.ConfigError, match="bogus_opt"):
        await isolated.pool(connect_options={"bogus_opt": 1})
