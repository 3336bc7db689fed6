"""Helpers for the FastAPI tests: run an app's lifespan and talk to it over ASGI.

Imported by name (pytest puts this directory on sys.path). httpx's ASGITransport
sends requests only; the lifespan (start-up and shutdown) is driven here through
the ASGI lifespan protocol, exactly as a server does, so the tests exercise the
same path as uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx

import rawdb
import rawdb.fastapi

Message = MutableMapping[str, Any]


@contextlib.asynccontextmanager
async def lifespan_of(app: Any) -> AsyncIterator[None]:
    """Run ``app``'s ASGI lifespan around the block; start-up/shutdown failures raise."""
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()

    async def receive() -> Message:
        return await to_app.get()

    async def send(message: Message) -> None:
        await from_app.put(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    task = asyncio.create_task(app(scope, receive, send))

    async def expect(kind: str) -> None:
        getter = asyncio.ensure_future(from_app.get())
        done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        if getter not in done:
            getter.cancel()
            task.result()  # raises what the app raised
            raise AssertionError(f"lifespan ended without {kind}")
        message = getter.result()
        if message["type"] == f"{kind}.failed":
            raise RuntimeError(f"{kind} failed: {message.get('message', '')}")
        assert message["type"] == f"{kind}.complete", message

    await to_app.put({"type": "lifespan.startup"})
    try:
        await expect("lifespan.startup")
    except BaseException:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await expect("lifespan.shutdown")
        await task


def client_for(app: Any) -> httpx.AsyncClient:
    """A client whose unhandled app errors become 500s, as a real server answers."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://app.test", timeout=60)


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Start ``app`` (its lifespan opens the pool), yield a client, shut it down."""
    async with lifespan_of(app), client_for(app) as client:
        yield client


def app_pool(app: Any) -> rawdb.Pool:
    return rawdb.fastapi.get_pool(app)


def lifespan_args(isolated: Any, **options: Any) -> dict[str, Any]:
    """Arguments for ``rawdb.fastapi.lifespan`` that reach the test's isolated database."""
    return {"url": isolated.url, **isolated.options, **options}

