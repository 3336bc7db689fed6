"""The application's pool: opened at start-up, on app.state while running, closed at shutdown."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi_support import client_for, lifespan_args, lifespan_of, serving

import rawdb
import rawdb.fastapi
from rawdb import Pool, Transaction, store
from tests.conftest import IsolatedDatabase


def add_routes(app: FastAPI) -> FastAPI:
    @app.get("/one")
    async def one(tx: Transaction = Depends(rawdb.fastapi.transaction)) -> dict[str, Any]:
        return {"one": await tx.fetch_val("SELECT 1"), "dialect": tx.dialect.name}

    @app.get("/one-readonly")
    async def one_readonly(tx: rawdb.fastapi.ReadOnlyTransactionDep) -> dict[str, Any]:
        return {"one": await tx.fetch_val("SELECT 1")}

    @app.get("/pool")
    async def pool_stats(pool: rawdb.fastapi.PoolDep) -> dict[str, Any]:
        return {"max_size": pool.stats().max_size}

    return app


# -- no pool: a message that says what to do ---------------------------------------------

@pytest.mark.parametrize("path", ["/one", "/one-readonly", "/pool"])
async def test_dependencies_without_a_running_pool_say_to_mount_the_lifespan(path: str) -> None:
    app = add_routes(FastAPI())  # no lifespan
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        with pytest.raises(rawdb.ConfigError) as info:
            await client.get(path)
    assert not isinstance(info.value, AttributeError)
    assert "lifespan=rawdb.fastapi.lifespan(" in str(info.value)


async def test_without_a_lifespan_the_client_sees_a_500() -> None:
    app = add_routes(FastAPI())
    async with client_for(app) as client:
        assert (await client.get("/one")).status_code == 500


# -- start-up and shutdown ------------------------------------------------------------------

async def test_lifespan_opens_the_pool_and_closes_it(isolated: IsolatedDatabase) -> None:
    app = add_routes(FastAPI(lifespan=rawdb.fastapi.lifespan(
        **lifespan_args(isolated, migrate=False, max_size=3))))
    async with serving(app) as client:
        pool = rawdb.fastapi.get_pool(app)
        assert getattr(app.state, rawdb.fastapi.STATE_ATTR) is pool
        assert (await client.get("/one")).json() == {"one": 1, "dialect": isolated.dialect}
        assert (await client.get("/one-readonly")).json() == {"one": 1}
        assert (await client.get("/pool")).json() == {"max_size": 3}
    assert pool.closed
    assert not hasattr(app.state, rawdb.fastapi.STATE_ATTR)
    with pytest.raises(rawdb.ConfigError, match="lifespan"):
        rawdb.fastapi.get_pool(app)
    # The same application can start again (tests, reloaders) with a fresh pool.
    async with serving(app) as client:
        assert rawdb.fastapi.get_pool(app) is not pool
        assert (await client.get("/one")).status_code == 200


async def test_url_defaults_to_rawdb_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "from-env.db"
    monkeypatch.delenv("RAWDB_URL", raising=False)
    lifespan = rawdb.fastapi.lifespan(migrate=False)  # read at start-up, not here
    monkeypatch.setenv("RAWDB_URL", f"sqlite:///{db}")
    app = add_routes(FastAPI(lifespan=lifespan))
    async with serving(app) as client:
        assert (await client.get("/one")).json()["dialect"] == "sqlite"
    assert db.exists()


async def test_url_defaults_to_rawdb_db_in_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAWDB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    app = add_routes(FastAPI(lifespan=rawdb.fastapi.lifespan(migrate=False)))
    async with serving(app) as client:
        assert (await client.get("/one")).status_code == 200
    assert (tmp_path / "rawdb.db").exists()


async def test_migrations_run_before_the_app_serves(isolated: IsolatedDatabase,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    app = add_routes(FastAPI(lifespan=rawdb.fastapi.lifespan(
        **lifespan_args(isolated, directory=store.MIGRATIONS))))

    async def fake_migrate(self: Pool, *args: Any, **kwargs: Any) -> str:
        calls.append(hasattr(app.state, rawdb.fastapi.STATE_ATTR))
        return "migrated"

    monkeypatch.setattr(Pool, "migrate", fake_migrate)
    async with serving(app) as client:
        assert calls == [False]  # migrated before the pool was offered to requests
        assert (await client.get("/one")).status_code == 200


async def test_a_failed_migration_stops_start_up_and_closes_the_pool(
        isolated: IsolatedDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    pools: list[Pool] = []

    async def failing_migrate(self: Pool, *args: Any, **kwargs: Any) -> None:
        pools.append(self)
        raise rawdb.MigrationError("v003 failed: boom")

    monkeypatch.setattr(Pool, "migrate", failing_migrate)
    app = add_routes(FastAPI(lifespan=rawdb.fastapi.lifespan(
        **lifespan_args(isolated, directory=store.MIGRATIONS))))
    with pytest.raises(RuntimeError, match="v003 failed: boom"):
        async with lifespan_of(app):
            pass
    [pool] = pools
    assert pool.closed
    assert not hasattr(app.state, rawdb.fastapi.STATE_ATTR)


async def test_a_bad_url_stops_start_up(tmp_path: Path) -> None:
    app = FastAPI(lifespan=rawdb.fastapi.lifespan("nosuchdb://x", migrate=False))
    with pytest.raises(RuntimeError, match="nosuchdb"):
        async with lifespan_of(app):
            pass


async def test_mounting_the_lifespan_twice_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"

    @contextlib.asynccontextmanager
    async def twice(app: FastAPI) -> AsyncIterator[None]:
        async with rawdb.fastapi.lifespan(url, migrate=False)(app), \
                rawdb.fastapi.lifespan(url, migrate=False)(app):
            yield

    with pytest.raises(RuntimeError, match="mounted twice"):
        async with lifespan_of(FastAPI(lifespan=twice)):
            pass


async def test_it_composes_with_the_application_s_own_lifespan(isolated: IsolatedDatabase) -> None:
    seen: list[str] = []

    @contextlib.asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with rawdb.fastapi.lifespan(**lifespan_args(isolated, migrate=False))(app):
            async with rawdb.fastapi.get_pool(app).transaction() as tx:  # start-up work
                seen.append(str(await tx.fetch_val("SELECT 1")))
            yield
        seen.append("closed")

    app = add_routes(FastAPI(lifespan=app_lifespan))
    async with serving(app) as client:
        assert (await client.get("/one")).status_code == 200
    assert seen == ["1", "closed"]


async def test_an_application_can_hand_in_its_own_pool(pool: Pool) -> None:
    """``app.state.rawdb_pool`` is public: an app (or a test) that owns a pool sets it."""
    app = add_routes(FastAPI())
    setattr(app.state, rawdb.fastapi.STATE_ATTR, pool)
    async with client_for(app) as client:
        assert (await client.get("/one")).json()["one"] == 1
    assert pool.stats().in_use == 0
    setattr(app.state, rawdb.fastapi.STATE_ATTR, "not a pool")
    with pytest.raises(rawdb.ConfigError, match=r"not a rawdb\.Pool"):
        rawdb.fastapi.get_pool(app)


async def test_the_bundled_schema_runs_at_start_up_when_named(isolated: IsolatedDatabase) -> None:
    app = add_routes(FastAPI(lifespan=rawdb.fastapi.lifespan(
        **lifespan_args(isolated, directory=store.MIGRATIONS))))
    async with serving(app):
        pool = rawdb.fastapi.get_pool(app)
        assert await pool.schema_version(store.MIGRATIONS) >= 9
        async with pool.transaction(readonly=True) as tx:
            assert await tx.fetch_val("SELECT COUNT(*) FROM tasks") == 0


async def test_the_application_s_own_migrations_run_at_start_up(
        isolated: IsolatedDatabase, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "v001_notes.sql").write_text(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR(100) NOT NULL);\n", encoding="utf-8")
    (folder / "v002_seed.sql").write_text(
        "INSERT INTO notes (id, body) VALUES (1, 'first');\n", encoding="utf-8")
    app = add_routes(FastAPI(lifespan=rawdb.fastapi.lifespan(
        **lifespan_args(isolated, directory=folder))))
    async with serving(app):
        pool = rawdb.fastapi.get_pool(app)
        assert await pool.schema_version(folder) == 2
        async with pool.transaction(readonly=True) as tx:
            assert await tx.fetch_val("SELECT body FROM notes WHERE id = 1") == "first"
        async with pool.connection() as conn:  # the bundled schema was not applied
            with pytest.raises(rawdb.QueryError):
                await conn.fetch_val("SELECT COUNT(*) FROM tasks")
    # Started again with the bundled schema by mistake: refused, nothing applied.
    wrong = add_routes(FastAPI(lifespan=rawdb.fastapi.lifespan(
        **lifespan_args(isolated, directory=store.MIGRATIONS))))
    with pytest.raises(RuntimeError, match="history was written by the scripts folder whose first script"):
        async with lifespan_of(wrong):
            pass


def test_migrating_without_naming_the_scripts_is_refused_at_once() -> None:
    with pytest.raises(rawdb.ConfigError, match=r"directory=rawdb\.store\.MIGRATIONS") as info:
        rawdb.fastapi.lifespan()
    assert "directory='path/to/migrations'" in str(info.value) and "migrate=False" in str(info.value)
