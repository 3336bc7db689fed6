"""One transaction per request, on all three dialects, through a real FastAPI app.

Each test starts the app through its ASGI lifespan (which opens the app's own pool
on the test's isolated database) and talks to it with httpx's ASGI transport. The
shared ``pool`` fixture is a second, independent pool on the same database: it
makes the tables and checks what was really stored, so no assertion trusts the
app's own connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import pytest
from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, Request
from fastapi_support import app_pool, lifespan_args, serving

import rawdb
import rawdb.fastapi
from rawdb import Pool, Transaction
from tests.conftest import IsolatedDatabase
from tests.helpers import backend_id, eventually, kill_backend

PROBE_PATHS = ("/items", "/orphans")


async def make_tables(pool: Pool) -> None:
    async with pool.connection() as conn:
        await conn.execute_verbatim(
            "CREATE TABLE items (name VARCHAR(64) NOT NULL PRIMARY KEY, note VARCHAR(200))")
        if pool.dialect.name != "mysql":  # MySQL has no deferrable constraints
            await conn.execute_verbatim("CREATE TABLE parents (id INTEGER NOT NULL PRIMARY KEY)")
            await conn.execute_verbatim(
                "CREATE TABLE children (id INTEGER NOT NULL PRIMARY KEY, parent_id INTEGER NOT NULL "
                "REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)")


async def stored(pool: Pool, name: str) -> str | None:
    """The note stored for ``name`` as seen by an independent pool, or None."""
    async with pool.transaction(readonly=True) as tx:
        return await tx.fetch_val("SELECT note FROM items WHERE name = :name", {"name": name})  # type: ignore[no-any-return]


async def count_items(pool: Pool, prefix: str) -> int:
    async with pool.transaction(readonly=True) as tx:
        return int(await tx.fetch_val("SELECT COUNT(*) FROM items WHERE name LIKE :p", {"p": prefix + "%"}))


async def insert(tx: Transaction, name: str, note: str = "x") -> None:
    await tx.execute("INSERT INTO items (name, note) VALUES (:name, :note)", {"name": name, "note": note})


class Probe:
    """What the world looked like at the moment the response started (http.response.start)."""

    def __init__(self) -> None:
        self.in_use: int | None = None
        self.seen: str | None = None
        self.name: str | None = None


def build_app(isolated: IsolatedDatabase, verify: Pool, probe: Probe | None = None,
              **pool_options: Any) -> FastAPI:
    """The test application; ``verify`` is the independent pool (the ``pool`` fixture)."""
    app = FastAPI(lifespan=rawdb.fastapi.lifespan(
        **lifespan_args(isolated, migrate=False, max_size=5, acquire_timeout=10, **pool_options)))
    app.state.events = {}
    app.state.job_errors = []

    @app.post("/items/{name}")
    async def create(name: str,
                     tx: Transaction = Depends(rawdb.fastapi.transaction),
                     ) -> dict[str, str]:
        await insert(tx, name)
        return {"name": name}

    @app.post("/items/{name}/http-error")
    async def create_then_http_error(name: str, tx: rawdb.fastapi.TransactionDep) -> None:
        await insert(tx, name)
        raise HTTPException(status_code=409, detail="changed my mind")

    @app.post("/items/{name}/crash")
    async def create_then_crash(name: str, tx: rawdb.fastapi.TransactionDep) -> None:
        await insert(tx, name)
        raise RuntimeError("endpoint bug")

    @app.post("/items/{name}/savepoint")
    async def create_with_failed_savepoint(name: str, tx: rawdb.fastapi.TransactionDep) -> dict[str, str]:
        await insert(tx, name)
        try:
            async with tx.transaction() as sp:
                await insert(sp, name)  # duplicate: only the savepoint rolls back
        except rawdb.UniqueViolation:
            pass
        return {"name": name}

    @app.post("/items/{name}/caught")
    async def create_catching_an_error(name: str, tx: rawdb.fastapi.TransactionDep) -> dict[str, str]:
        await insert(tx, name)
        # The classic mistake: a duplicate outside a savepoint, caught, and carrying
        # on as if the first insert were kept.
        with contextlib.suppress(rawdb.UniqueViolation):
            await insert(tx, name)
        return {"name": name}

    @app.get("/items/{name}")
    async def read(name: str, tx: rawdb.fastapi.ReadOnlyTransactionDep) -> dict[str, Any]:
        assert tx.readonly
        return {"note": await tx.fetch_val("SELECT note FROM items WHERE name = :name", {"name": name})}

    @app.post("/items/{name}/readonly-write")
    async def write_in_readonly(name: str, tx: rawdb.fastapi.ReadOnlyTransactionDep) -> None:
        await insert(tx, name)

    @app.post("/items/{name}/same-tx")
    async def same_tx(name: str, tx: rawdb.fastapi.TransactionDep,
                      other: Annotated[Transaction, Depends(shared_by_dependency)]) -> dict[str, bool]:
        await insert(tx, name)
        return {"same": tx is other}

    @app.post("/orphans/{child}")
    async def orphan(child: int, tx: rawdb.fastapi.TransactionDep) -> dict[str, int]:
        # Accepted now, checked at COMMIT: the deferred foreign key fails there.
        await tx.execute("INSERT INTO children (id, parent_id) VALUES (:id, :parent)",
                         {"id": child, "parent": 10_000 + child})
        return {"child": child}

    @app.post("/items/{name}/killed")
    async def create_then_lose_connection(name: str, tx: rawdb.fastapi.TransactionDep) -> dict[str, str]:
        await insert(tx, name)
        ident = await backend_id(tx)
        async with verify.connection() as admin:  # another session kills ours
            await kill_backend(admin, verify.dialect.name, ident)
            await wait_until_gone(admin, ident)
        return {"name": name}

    @app.post("/items/{name}/slow")
    async def create_then_hang(name: str, tx: rawdb.fastapi.TransactionDep) -> None:
        await insert(tx, name)
        app.state.events[name].set()
        await asyncio.Event().wait()  # until the client goes away

    @app.post("/items/{name}/with-job")
    async def create_with_job(name: str, background: BackgroundTasks,
                              tx: rawdb.fastapi.TransactionDep,
                              pool: Annotated[Pool, Depends(rawdb.fastapi.pool)],
                              fail: bool = False) -> dict[str, str]:
        await insert(tx, name, "request")
        background.add_task(recording(app, rawdb.fastapi.run_in_transaction), pool, job, name, fail)
        return {"name": name}

    @app.post("/items/{name}/borrowing-job")
    async def create_with_borrowing_job(name: str, background: BackgroundTasks,
                                        tx: rawdb.fastapi.TransactionDep) -> dict[str, str]:
        await insert(tx, name, "request")
        background.add_task(recording(app, job), tx, name, False)  # the old system's mistake
        return {"name": name}

    if probe is not None:
        inner = app.build_middleware_stack

        def with_probe() -> Any:
            wrapped = inner()

            async def probing(scope: Any, receive: Any, send: Any) -> None:
                async def probe_send(message: Any) -> None:
                    if message["type"] == "http.response.start" and probe.name is not None:
                        probe.in_use = app_pool(app).stats().in_use
                        probe.seen = await stored(verify, probe.name)
                    await send(message)

                await wrapped(scope, receive, probe_send)

            return probing

        app.build_middleware_stack = with_probe  # type: ignore[method-assign]
    return app


async def shared_by_dependency(tx: rawdb.fastapi.TransactionDep) -> Transaction:
    """A dependency that asks for the request's transaction too: it gets the same one."""
    return tx


async def naive_transaction(request: Request) -> AsyncIterator[Transaction]:
    """The usual recipe, default (request) scope: exits after the response is sent."""
    async with rawdb.fastapi.get_pool(request.app).transaction() as tx:
        yield tx


async def job(tx: Transaction, name: str, fail: bool) -> None:
    """A background job: it must see the request's row (committed) and write its own."""
    note = await tx.fetch_val("SELECT note FROM items WHERE name = :name", {"name": name})
    assert note == "request", f"the request's write is not visible to the job: {note!r}"
    await insert(tx, name + "-job", "job")
    if fail:
        raise RuntimeError("job failed")


def recording(app: FastAPI, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
    async def run(*args: Any) -> None:
        try:
            await fn(*args)
        except Exception as exc:
            app.state.job_errors.append(exc)

    return run


async def wait_until_gone(admin: rawdb.Connection, ident: object) -> None:
    """KILL returns before the victim's socket is closed; wait until the server is done."""
    if admin.dialect.name == "postgresql":
        sql = "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = :id"
    else:
        sql = "SELECT COUNT(*) FROM information_schema.processlist WHERE id = :id"
    for _ in range(500):
        if not await admin.fetch_val(sql, {"id": ident}):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"backend {ident} still alive after being killed")


@pytest.fixture
async def tables(pool: Pool) -> AsyncIterator[Pool]:
    await make_tables(pool)
    yield pool


# -- 1. a normal return commits before the response is sent ---------------------------

async def test_commit_happens_before_the_response_starts(isolated: IsolatedDatabase, tables: Pool) -> None:
    probe = Probe()
    app = build_app(isolated, tables, probe)
    async with serving(app) as client:
        probe.name = "a"
        response = await client.post("/items/a")
        assert response.status_code == 200
        assert probe.in_use == 0, "the request's connection was still held when the response started"
        assert probe.seen == "x", "the row was not committed when the response started"
        assert (await client.get("/items/a")).json() == {"note": "x"}
    assert await stored(tables, "a") == "x"


async def test_failed_commit_deferred_constraint_is_a_500(isolated: IsolatedDatabase, tables: Pool) -> None:
    if isolated.dialect == "mysql":
        pytest.skip("MySQL/MariaDB have no deferred constraints; "
                    "test_failed_commit_lost_connection_is_a_500 makes its COMMIT fail")
    app = build_app(isolated, tables)
    async with serving(app) as client:
        response = await client.post("/orphans/1")
        assert response.status_code == 500, response.text
        assert app_pool(app).stats().in_use == 0
        # The connection is clean and reusable after the refused COMMIT.
        assert (await client.post("/items/after")).status_code == 200
    async with tables.transaction(readonly=True) as tx:
        assert await tx.fetch_val("SELECT COUNT(*) FROM children") == 0


async def test_an_error_caught_in_the_endpoint_is_a_500_and_stores_nothing(
        isolated: IsolatedDatabase, tables: Pool) -> None:
    """PostgreSQL used to answer the COMMIT with ROLLBACK silently: the client got
    200 and nothing was stored. Now every dialect reports the failed transaction."""
    app = build_app(isolated, tables)
    async with serving(app) as client:
        response = await client.post("/items/caught-1/caught")
        assert response.status_code == 500, response.text
        assert app_pool(app).stats().in_use == 0
        assert (await client.post("/items/after-caught")).status_code == 200
    assert await stored(tables, "caught-1") is None
    assert await stored(tables, "after-caught") == "x"


async def test_failed_commit_surfaces_the_integrity_error(isolated: IsolatedDatabase, tables: Pool) -> None:
    """Without the error-to-500 translation of a server: the exception is the rawdb one."""
    if isolated.dialect == "mysql":
        pytest.skip("MySQL/MariaDB have no deferred constraints")
    import httpx
    from fastapi_support import lifespan_of

    app = build_app(isolated, tables)
    async with lifespan_of(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://app.test") as client:
        with pytest.raises(rawdb.ForeignKeyViolation):
            await client.post("/orphans/2")


async def test_failed_commit_lost_connection_is_a_500(isolated: IsolatedDatabase, tables: Pool) -> None:
    if isolated.dialect == "sqlite":
        pytest.skip("an SQLite connection cannot be killed from another session; "
                    "the deferred-constraint test makes its COMMIT fail")
    app = build_app(isolated, tables)
    async with serving(app) as client:
        response = await client.post("/items/k/killed")
        assert response.status_code == 500, response.text
        assert app_pool(app).stats().in_use == 0
        assert (await client.post("/items/after-kill")).status_code == 200
    assert await stored(tables, "k") is None
    assert await stored(tables, "after-kill") == "x"


async def test_a_naive_request_scoped_dependency_reports_200_for_lost_data(
        isolated: IsolatedDatabase, tables: Pool) -> None:
    """Why rawdb.fastapi exists: this FastAPI commits a default-scope ``yield`` dependency
    after the response, so a failing COMMIT there is a 200 for nothing stored. If this
    test starts failing, FastAPI changed that behaviour; the pin should be revisited."""
    if isolated.dialect == "mysql":
        pytest.skip("needs a deferred constraint")
    app = build_app(isolated, tables)

    @app.post("/naive-orphans/{child}")
    async def naive_orphan(child: int,
                           tx: Annotated[Transaction, Depends(naive_transaction)]) -> dict[str, int]:
        await tx.execute("INSERT INTO children (id, parent_id) VALUES (:id, :parent)",
                         {"id": child, "parent": 10_000 + child})
        return {"child": child}

    async with serving(app) as client:
        response = await client.post("/naive-orphans/3")
        assert response.status_code == 200
    async with tables.transaction(readonly=True) as tx:
        assert await tx.fetch_val("SELECT COUNT(*) FROM children") == 0


# -- 2. an endpoint that raises rolls back everything it wrote ------------------------

@pytest.mark.parametrize(("path", "status"), [("http-error", 409), ("crash", 500)])
async def test_an_endpoint_that_raises_rolls_back(isolated: IsolatedDatabase, tables: Pool,
                                                  path: str, status: int) -> None:
    probe = Probe()
    app = build_app(isolated, tables, probe)
    async with serving(app) as client:
        probe.name = "r"
        response = await client.post(f"/items/r/{path}")
        assert response.status_code == status
        assert probe.in_use == 0  # released before the error response started
        assert probe.seen is None
        assert app_pool(app).stats().in_use == 0
    assert await stored(tables, "r") is None


async def test_a_failed_savepoint_keeps_the_rest_of_the_request(isolated: IsolatedDatabase,
                                                                tables: Pool) -> None:
    app = build_app(isolated, tables)
    async with serving(app) as client:
        assert (await client.post("/items/s/savepoint")).status_code == 200
    assert await stored(tables, "s") == "x"


async def test_a_write_in_the_readonly_variant_fails_and_stores_nothing(
        isolated: IsolatedDatabase, tables: Pool) -> None:
    import httpx
    from fastapi_support import lifespan_of

    app = build_app(isolated, tables)
    async with lifespan_of(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://app.test") as client:
        with pytest.raises(rawdb.ReadOnlyViolation):
            await client.post("/items/ro/readonly-write")
        assert app_pool(app).stats().in_use == 0
    assert await stored(tables, "ro") is None


async def test_one_request_one_transaction(isolated: IsolatedDatabase, tables: Pool) -> None:
    app = build_app(isolated, tables)
    async with serving(app) as client:
        assert (await client.post("/items/t/same-tx")).json() == {"same": True}
        assert app_pool(app).stats().acquired_total >= 1


# -- 3. concurrency and disconnects ------------------------------------------------------

async def test_200_concurrent_requests_on_a_pool_of_5(isolated: IsolatedDatabase, tables: Pool) -> None:
    app = build_app(isolated, tables)
    async with serving(app) as client:
        await client.post("/items/c-seed")

        async def one(i: int) -> int:
            if i % 4 == 3:
                return (await client.get("/items/c-seed")).status_code
            return (await client.post(f"/items/c{i:03d}")).status_code

        statuses = await asyncio.gather(*(one(i) for i in range(200)))
        assert statuses == [200] * 200
        stats = app_pool(app).stats()
        assert stats.in_use == 0
        assert stats.size <= 5
        assert stats.timeouts_total == 0
    assert await count_items(tables, "c") == 150 + 1


async def test_a_client_that_goes_away_mid_request_releases_its_connection(
        isolated: IsolatedDatabase, tables: Pool) -> None:
    app = build_app(isolated, tables)
    async with serving(app) as client:
        for n in range(3):  # a few times: a leaked connection would add up
            name = f"gone{n}"
            app.state.events[name] = asyncio.Event()
            request = asyncio.create_task(client.post(f"/items/{name}/slow"))
            await asyncio.wait_for(app.state.events[name].wait(), 10)
            assert app_pool(app).stats().in_use == 1
            request.cancel()  # the client disconnects; the server cancels the request
            with pytest.raises(asyncio.CancelledError):
                await request
            assert app_pool(app).stats().in_use == 0
        assert (await client.post("/items/still-works")).status_code == 200
    for n in range(3):
        assert await stored(tables, f"gone{n}") is None


async def test_a_response_that_cannot_be_delivered_leaves_nothing_checked_out(
        isolated: IsolatedDatabase, tables: Pool) -> None:
    """The client vanished before the answer: the work was committed (the endpoint
    finished), the send fails, and no connection stays checked out."""
    from fastapi_support import lifespan_of

    app = build_app(isolated, tables)
    async with lifespan_of(app):
        scope: dict[str, Any] = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/items/undelivered", "raw_path": b"/items/undelivered",
                 "query_string": b"", "headers": [], "server": ("app.test", 80), "client": None,
                 "root_path": ""}
        messages = iter([{"type": "http.request", "body": b"", "more_body": False}])

        async def receive() -> dict[str, Any]:
            return next(messages, {"type": "http.disconnect"})

        async def send(message: Any) -> None:
            raise OSError("client disconnected")

        with pytest.raises(OSError):
            await app(scope, receive, send)
        assert app_pool(app).stats().in_use == 0
    assert await stored(tables, "undelivered") == "x"


# -- background work (M8) -----------------------------------------------------------------

async def test_a_background_job_uses_its_own_transaction(isolated: IsolatedDatabase, tables: Pool) -> None:
    app = build_app(isolated, tables)
    async with serving(app) as client:
        assert (await client.post("/items/b/with-job")).status_code == 200
        assert app.state.job_errors == []
        assert app_pool(app).stats().in_use == 0
    assert await stored(tables, "b") == "request"
    assert await stored(tables, "b-job") == "job"


async def test_a_failing_background_job_rolls_back_only_its_own_writes(
        isolated: IsolatedDatabase, tables: Pool) -> None:
    app = build_app(isolated, tables)
    async with serving(app) as client:
        response = await client.post("/items/f/with-job", params={"fail": "true"})
        assert response.status_code == 200
        assert [str(e) for e in app.state.job_errors] == ["job failed"]
        assert app_pool(app).stats().in_use == 0
    assert await stored(tables, "f") == "request"  # the request's write stays
    assert await stored(tables, "f-job") is None  # the job's own write is gone


async def test_borrowing_the_request_transaction_in_a_job_fails_loudly(
        isolated: IsolatedDatabase, tables: Pool) -> None:
    """The old system's background job reopened the request's closed session; here the
    ended transaction refuses, and nothing is written on a connection nobody owns."""
    app = build_app(isolated, tables)
    async with serving(app) as client:
        assert (await client.post("/items/o/borrowing-job")).status_code == 200
        [error] = app.state.job_errors
        assert isinstance(error, rawdb.InterfaceError)
        assert "ended" in str(error)
        assert app_pool(app).stats().in_use == 0
    assert await stored(tables, "o") == "request"
    assert await stored(tables, "o-job") is None


async def test_run_in_transaction_refuses_a_borrowed_transaction(tables: Pool) -> None:
    async with tables.transaction() as tx:
        with pytest.raises(rawdb.InterfaceError, match="borrow"):
            await rawdb.fastapi.run_in_transaction(tables, job, tx, False)  # type: ignore[arg-type]


async def test_run_in_transaction_commits_or_rolls_back(tables: Pool) -> None:
    async def write(tx: Transaction, name: str, fail: bool) -> int:
        await insert(tx, name)
        if fail:
            raise ValueError("no")
        return 7

    assert await rawdb.fastapi.run_in_transaction(tables, write, "ok", False) == 7
    with pytest.raises(ValueError):
        await rawdb.fastapi.run_in_transaction(tables, write, "bad", fail=True)
    assert await stored(tables, "ok") == "x"
    assert await stored(tables, "bad") is None
    await eventually(lambda: tables.stats().in_use == 0, timeout=1, what="release")
    assert tables.stats().in_use == 0
