"""A URL's password never shows: not in reprs, logs, warnings, error messages or tracebacks.

PostgreSQL here trusts 127.0.0.1 (any password is accepted), so a PostgreSQL
connect failure is provoked with a closed port. MariaDB checks passwords: a wrong
one for root (whose password is empty) is rejected by the server, and a user with
a real password is created for the normal-use test.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import traceback
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

import rawdb
from rawdb.config import parse_url

# The same defaults as conftest.py (which cannot be imported: several conftest modules exist).
PG_URL = os.environ.get("RAWDB_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("RAWDB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
SERVER_URL = {"postgresql": PG_URL, "mysql": MYSQL_URL}


class IsolatedDatabase(Protocol):
    """The `isolated` fixture of conftest.py (not importable: several conftest modules exist)."""

    dialect: str
    url: str
    options: dict[str, Any]
    name: str

    async def pool(self, **options: Any) -> rawdb.Pool: ...


def new_secret() -> str:
    return f"Pw{uuid.uuid4().hex[:16]}Zz"


def with_credentials(url: str, password: str, *, user: str | None = None, port: int | None = None,
                     database: str | None = None) -> str:
    parts = urlsplit(url)
    name = user if user is not None else (parts.username or "")
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(name, safe='')}:{quote(password, safe='')}@{host}:{port or parts.port}"
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def exception_texts(exc: BaseException) -> list[str]:
    """Everything a user or a log may print about an exception, causes included."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return texts


def assert_absent(secret: str, texts: list[str], what: str) -> None:
    for text in texts:
        assert secret not in text, f"the password appears in {what}: {text!r}"
        assert quote(secret, safe="") not in text, f"the encoded password appears in {what}"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)  # root: every library's records
    caplog.set_level(logging.DEBUG, logger="rawdb")
    yield caplog


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [formatter.format(r) + repr(r.args) for r in caplog.records]


@pytest.fixture
def recorded_warnings() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def warning_texts(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught]


# -- parsed URLs and configuration errors ----------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+asyncpg", "mysql", "mariadb",
                                    "mysql+aiomysql"])
@pytest.mark.parametrize("password", ["Pw_plain_1234", "p@ss/w:rd%?#x"])
def test_parsed_url_str_and_repr_hide_password(scheme: str, password: str) -> None:
    url = f"{scheme}://app:{quote(password, safe='')}@db.example:5432/prod"
    parsed, _ = parse_url(url)
    assert parsed.password == password
    texts = [str(parsed), repr(parsed), f"{parsed}", f"{parsed!r}", repr([parsed]),
             repr({"url": parsed}), parsed.redacted()]
    assert_absent(password, texts, "the parsed URL")
    assert "app" in str(parsed) and "db.example" in str(parsed)


def test_parsed_url_rich_repr_hides_password() -> None:
    # msgspec Structs implement __rich_repr__ (used by rich's pretty printer, its logging
    # handler and its tracebacks with locals); it must not bypass the redacted __repr__.
    secret = new_secret()
    parsed, _ = parse_url(f"postgresql://app:{secret}@db.example/prod")
    rich_repr = getattr(parsed, "__rich_repr__", None)
    if rich_repr is None:
        return
    assert_absent(secret, [repr(list(rich_repr()))], "__rich_repr__")


@pytest.mark.parametrize(
    "tail",
    ["db.example:notaport/prod", "db.example/prod?max_sise=3", "db.example/prod?max_size=lots",
     "db.example/prod?acquire_timeout=nan"],
)
async def test_config_errors_do_not_echo_the_url(tail: str) -> None:
    secret = new_secret()
    with pytest.raises(rawdb.ConfigError) as info:
        await rawdb.create_pool(f"postgresql://app:{secret}@{tail}")
    assert_absent(secret, exception_texts(info.value), "a ConfigError")


# -- real servers -------------------------------------------------------------------------


@pytest.fixture
def server(isolated: IsolatedDatabase) -> str:
    """The server dialect under test (`isolated` has checked that it is reachable)."""
    if isolated.dialect == "sqlite":
        pytest.skip("SQLite URLs carry no password")
    return isolated.dialect


@pytest.fixture
async def mysql_user(isolated: IsolatedDatabase) -> AsyncIterator[tuple[str, str] | None]:
    """On MySQL, an account with a real password, allowed into the test's database."""
    if isolated.dialect != "mysql":
        yield None
        return
    user = "rawdb_sec_" + uuid.uuid4().hex[:8]
    secret = new_secret()
    hosts = ("%", "localhost", "127.0.0.1")
    admin = await rawdb.create_pool(MYSQL_URL, min_size=1, max_size=1)
    try:
        async with admin.connection() as conn:
            for host in hosts:
                await conn.execute_verbatim(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{secret}'")
                await conn.execute_verbatim(f"GRANT ALL ON {isolated.name}.* TO '{user}'@'{host}'")
        yield user, secret
    finally:
        async with admin.connection() as conn:
            for host in hosts:
                await conn.execute_verbatim(f"DROP USER IF EXISTS '{user}'@'{host}'")
        await admin.close()


async def exercise(pool: rawdb.Pool) -> list[str]:
    """Normal use, including a failing statement; returns what was printable on the way."""
    texts = [repr(pool), str(pool.dialect.url), repr(pool.dialect.url), pool.dialect.describe(),
             repr(pool.stats())]
    async with pool.connection() as conn:
        await conn.execute_verbatim("CREATE TABLE sec (id INTEGER PRIMARY KEY)")
    async with pool.transaction() as tx:
        texts.append(repr(tx))
        await tx.execute("INSERT INTO sec (id) VALUES (1)")
    with pytest.raises(rawdb.UniqueViolation) as info:
        async with pool.transaction() as tx:
            await tx.execute("INSERT INTO sec (id) VALUES (1)")
    texts += exception_texts(info.value)
    texts.append(repr(pool))
    await pool.close()
    texts.append(repr(pool))
    return texts


async def test_normal_use_hides_password(
    isolated: IsolatedDatabase, mysql_user: tuple[str, str] | None, logs: pytest.LogCaptureFixture,
    recorded_warnings: list[warnings.WarningMessage],
) -> None:
    if isolated.dialect == "sqlite":
        pytest.skip("SQLite URLs carry no password")
    if mysql_user is not None:
        user, secret = mysql_user
        url = with_credentials(isolated.url, secret, user=user)
    else:
        secret = new_secret()  # trust authentication: accepted, never checked
        url = with_credentials(isolated.url, secret)
    pool = await rawdb.create_pool(url, **isolated.options)
    assert pool.dialect.url.password == secret
    texts = await exercise(pool)
    assert_absent(secret, texts, "repr/str/errors during normal use")
    assert_absent(secret, log_texts(logs), "a log record")
    assert_absent(secret, warning_texts(recorded_warnings), "a warning")


async def test_connect_to_closed_port_hides_password(
    server: str, logs: pytest.LogCaptureFixture, recorded_warnings: list[warnings.WarningMessage]
) -> None:
    secret = new_secret()
    url = with_credentials(SERVER_URL[server], secret, port=closed_port())
    with pytest.raises(rawdb.RawDBError) as info:
        await rawdb.create_pool(url, connect_timeout=3)
    assert_absent(secret, exception_texts(info.value), "the connect error")

    # With no connection opened up front, the failure surfaces as a PoolTimeout that
    # quotes the last connection error.
    pool = await rawdb.create_pool(url, min_size=0, connect_timeout=1, acquire_timeout=1)
    try:
        with pytest.raises(rawdb.PoolTimeout) as timeout_info:
            async with pool.transaction():
                pass
        assert_absent(secret, exception_texts(timeout_info.value), "the PoolTimeout")
        assert_absent(secret, [repr(pool)], "repr(pool)")
    finally:
        await pool.close()
    assert_absent(secret, log_texts(logs), "a log record")
    assert_absent(secret, warning_texts(recorded_warnings), "a warning")


async def test_mysql_rejected_password_hides_password(
    server: str, logs: pytest.LogCaptureFixture, recorded_warnings: list[warnings.WarningMessage]
) -> None:
    if server != "mysql":
        pytest.skip("PostgreSQL trusts 127.0.0.1 here: it accepts any password")
    secret = new_secret()  # root has an empty password: the server rejects this one
    url = with_credentials(MYSQL_URL, secret, user="root")
    with pytest.raises(rawdb.RawDBError) as info:
        await rawdb.create_pool(url, connect_timeout=3)
    assert "denied" in str(info.value).lower()
    assert_absent(secret, exception_texts(info.value), "the authentication error")

    # Without connections at start-up the first acquire meets the same rejection: it
    # fails at once (retrying cannot fix a password) and hides the secret too.
    pool = await rawdb.create_pool(url, min_size=0, acquire_timeout=30)
    try:
        with pytest.raises(rawdb.ConfigError) as acquire_info:
            async with asyncio.timeout(5), pool.transaction():
                pass
        assert "denied" in str(acquire_info.value).lower()
        assert_absent(secret, exception_texts(acquire_info.value), "the acquire error")
    finally:
        await pool.close()
    assert_absent(secret, log_texts(logs), "a log record")
    assert_absent(secret, warning_texts(recorded_warnings), "a warning")
