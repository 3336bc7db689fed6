"""FastAPI integration: one pool per application, one transaction per request.

    import rawdb.fastapi
    from rawdb import Pool, Transaction

    app = FastAPI(lifespan=rawdb.fastapi.lifespan(directory="migrations"))  # $RAWDB_URL or sqlite:///rawdb.db

    @app.post("/tasks")
    async def submit(body: NewTask, background: BackgroundTasks,
                     tx: Transaction = Depends(rawdb.fastapi.transaction),
                     pool: Pool = Depends(rawdb.fastapi.pool)) -> dict[str, str]:
        await tx.execute("INSERT INTO tasks ...", {...})        # committed before the response
        background.add_task(rawdb.fastapi.run_in_transaction, pool, start_task, task_id)
        return {"task_id": task_id}

Why it is shaped like this (the system rawdb replaces got each of these wrong):

- **The pool belongs to the application**, not to a module global: `lifespan` opens it
  at start-up (applying the migrations of the folder it is given, unless told not to),
  keeps it on
  ``app.state.rawdb_pool`` and closes it at shutdown. Two apps in one process (tests)
  never share or leak a pool.
- **COMMIT happens before the response starts.** Since FastAPI 0.118 the code after
  ``yield`` in a dependency runs *after* the response has been sent by default, so a
  COMMIT there that fails (deferred constraint, lost connection) reaches nobody: the
  client already has its 200 for data that was never stored. `transaction` therefore
  delegates to a generator declared with ``scope="function"`` (FastAPI >= 0.121),
  whose exit runs when the endpoint returns, before the response is sent; a failing
  COMMIT propagates and the client gets a 500. Callers write the plain
  ``Depends(rawdb.fastapi.transaction)`` and cannot pick the wrong scope.
- **An exception rolls back.** Any exception leaving the endpoint (``HTTPException``
  included) is thrown into the dependency, and ``pool.transaction()`` rolls back. To
  answer an error *and* keep the writes, return a response instead of raising.
- **Background work never borrows the request's transaction.** Background tasks run
  after the response, when the request's transaction has ended (using it raises
  `rawdb.InterfaceError`). They take the pool (``Depends(rawdb.fastapi.pool)``) and
  open their own transactions, so a failing job rolls back only its own writes.
  `run_in_transaction` is the helper for a job that is one transaction.

FastAPI is an optional dependency (``pip install 'rawdb[fastapi]'``); the core
never imports this module.
"""

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Concatenate, ParamSpec, TypeVar

try:
    import fastapi
    from fastapi import Depends, Request
    from starlette.applications import Starlette
    from starlette.requests import HTTPConnection
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("rawdb.fastapi needs FastAPI >= 0.121: pip install 'rawdb[fastapi]'") from exc

import rawdb
from rawdb.config import default_url
from rawdb.errors import ConfigError, InterfaceError
from rawdb.migrations.discovery import MigrationSource
from rawdb.pool import Pool
from rawdb.session import Session, Transaction


def _fastapi_version() -> tuple[int, int]:
    major, minor = fastapi.__version__.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


# Before 0.121 there is no scope="function": 0.118-0.120 always run the code after
# `yield` once the response is sent, so the commit could not decide the status code.
if _fastapi_version() < (0, 121):  # pragma: no cover - depends on the environment
    raise ImportError(
        f"rawdb.fastapi needs FastAPI >= 0.121 (found {fastapi.__version__}): older versions "
        "cannot commit a request's transaction before the response is sent; "
        "pip install 'rawdb[fastapi]'"
    )

__all__ = [
    "STATE_ATTR",
    "PoolDep",
    "ReadOnlyTransactionDep",
    "TransactionDep",
    "get_pool",
    "lifespan",
    "pool",
    "readonly_transaction",
    "run_in_transaction",
    "transaction",
]

log = logging.getLogger("rawdb.fastapi")

P = ParamSpec("P")
T = TypeVar("T")

#: The attribute of ``app.state`` that holds the application's pool while it runs.
#: Public so that a test or an application that manages its own pool can set it.
STATE_ATTR = "rawdb_pool"

_NO_POOL = (
    "no rawdb pool is running for this application: create the app with "
    "FastAPI(lifespan=rawdb.fastapi.lifespan(url)) (or enter rawdb.fastapi.lifespan(url)(app) "
    "from your own lifespan), and make sure the server runs the lifespan; "
    "a test client must run it too (httpx's ASGITransport does not). "
    f"An application that opens its own pool can set app.state.{STATE_ATTR} instead."
)


def lifespan(
    url: str | None = None,
    *,
    directory: MigrationSource | None = None,
    migrate: bool = True,
    close_timeout: float = 10.0,
    **pool_options: Any,
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """The application's lifespan: open the pool at start-up, close it at shutdown.

    ``FastAPI(lifespan=rawdb.fastapi.lifespan(...))``, or, to combine it with your own
    start-up code, ``async with rawdb.fastapi.lifespan(...)(app): ...`` inside your
    lifespan.

    ``url`` defaults to ``$RAWDB_URL``, else ``sqlite:///rawdb.db``; it is read at
    start-up, not when this is called, so the environment of the running process
    counts. ``pool_options`` go to `rawdb.create_pool`. With ``migrate=True`` the
    scripts of ``directory`` (the application's migrations folder, or
    ``rawdb.store.MIGRATIONS`` for rawdb's bundled application schema) are applied
    before the application takes requests: an application must not serve against a
    schema it does not understand, and a failed migration stops the start-up loudly
    (the pool is closed again). ``directory`` has no default: without it (and without
    ``migrate=False``) this raises `ConfigError` at once, rather than give the database
    a schema nobody chose. ``close_timeout`` is how long shutdown waits for
    connections still in use (a background job finishing) before closing them.
    """
    if migrate and directory is None:
        raise ConfigError(
            "rawdb.fastapi.lifespan() applies migrations at start-up, so it needs to know "
            "which: pass directory='path/to/migrations' (your application's scripts) or "
            "directory=rawdb.store.MIGRATIONS (rawdb's bundled application schema), or "
            "migrate=False to open the pool without migrating"
        )

    @contextlib.asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        if getattr(app.state, STATE_ATTR, None) is not None:
            raise ConfigError(
                f"app.state.{STATE_ATTR} is already set: rawdb.fastapi.lifespan() is mounted "
                "twice, or the application opened its own pool"
            )
        db_pool = await rawdb.create_pool(url or default_url(), **pool_options)
        try:
            if migrate:
                report = await db_pool.migrate(directory)
                log.info("rawdb: migrations: %s", report)
            setattr(app.state, STATE_ATTR, db_pool)
            log.info("rawdb: %r started", db_pool)
            try:
                yield
            finally:
                # Removed first, so a request racing the shutdown is told there is no
                # pool instead of getting a half-closed one; and the app can start again.
                delattr(app.state, STATE_ATTR)
        finally:
            await db_pool.close(timeout=close_timeout)
            log.info("rawdb: %r closed", db_pool)

    return run


def get_pool(app: Starlette) -> Pool:
    """The running pool of ``app``; `rawdb.ConfigError` (saying what to do) if none."""
    found = getattr(app.state, STATE_ATTR, None)
    if found is None:
        raise ConfigError(_NO_POOL)
    if not isinstance(found, Pool):
        raise ConfigError(f"app.state.{STATE_ATTR} holds {type(found).__name__}, not a rawdb.Pool")
    return found


def pool(connection: HTTPConnection) -> Pool:
    """Dependency: the application's pool, for work that outlives the request.

    ``pool: Pool = Depends(rawdb.fastapi.pool)``. Hand it to background tasks, which
    open their own transactions from it (see `run_in_transaction`).
    """
    return get_pool(connection.app)


async def _request_transaction(request: Request) -> AsyncIterator[Transaction]:
    # Declared with scope="function" below: FastAPI leaves this block when the
    # endpoint returns or raises, before the response is sent, so COMMIT's outcome
    # decides the status code.
    async with get_pool(request.app).transaction() as tx:
        yield tx


async def _request_readonly_transaction(request: Request) -> AsyncIterator[Transaction]:
    async with get_pool(request.app).transaction(readonly=True) as tx:
        yield tx


def transaction(
    tx: Annotated[Transaction, Depends(_request_transaction, scope="function")],
) -> Transaction:
    """Dependency: the request's read-write transaction.

    ``tx: Transaction = Depends(rawdb.fastapi.transaction)``. Committed when the
    endpoint returns and before the response is sent (a failed COMMIT becomes a 500);
    rolled back when the endpoint raises anything, ``HTTPException`` included. Every
    dependency of one request that asks for it gets the same transaction. Do not keep
    it beyond the request: a streaming body or a background task must use the pool.
    """
    return tx


def readonly_transaction(
    tx: Annotated[Transaction, Depends(_request_readonly_transaction, scope="function")],
) -> Transaction:
    """Dependency: a read-only transaction for the request (SQLite: a reader connection).

    A write inside it raises `rawdb.ReadOnlyViolation`. On SQLite it does not queue for
    the single writer, so read endpoints keep answering while writes are in progress.
    """
    return tx


TransactionDep = Annotated[Transaction, Depends(transaction)]
"""``async def endpoint(tx: rawdb.fastapi.TransactionDep)``: shorthand for `transaction`."""

ReadOnlyTransactionDep = Annotated[Transaction, Depends(readonly_transaction)]
"""Shorthand for `readonly_transaction`."""

PoolDep = Annotated[Pool, Depends(pool)]
"""Shorthand for `pool`."""


async def run_in_transaction(
    db_pool: Pool,
    job: Callable[Concatenate[Transaction, P], Awaitable[T]],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run ``job(tx, *args, **kwargs)`` in a transaction of its own, opened from ``db_pool``.

    For background tasks: ``background.add_task(rawdb.fastapi.run_in_transaction, pool,
    job, task_id)``. The job's writes commit when it returns and roll back when it
    raises, independently of the request (already committed by then). A job made of
    several steps that must each stick (``running``, then ``completed``) takes the pool
    and opens one ``pool.transaction()`` per step instead.

    Passing a transaction or connection in ``args`` is refused: the request's
    transaction has ended by the time a background task runs, and sharing one between
    tasks is what lost writes in the system rawdb replaces.
    """
    for value in (*args, *kwargs.values()):
        if isinstance(value, Session):
            raise InterfaceError(
                "run_in_transaction() was given a transaction/connection as an argument; "
                "background jobs must not borrow the request's transaction: the job gets "
                "its own as its first parameter"
            )
    async with db_pool.transaction() as tx:
        return await job(tx, *args, **kwargs)
