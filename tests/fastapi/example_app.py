"""A small task service on rawdb + FastAPI: the flow of the system rawdb replaces, done right.

    POST /tasks            save the task as ``pending`` (committed before the 202 is sent)
                           and start a background job
    (background job)       ``running`` in one transaction, the work outside any
                           transaction, ``completed`` (or ``failed``) in another
    GET  /tasks/{task_id}  read the task in a read-only transaction

Run it (any ASGI server; uvicorn is not a rawdb dependency)::

    RAWDB_URL=sqlite:///tasks.db uvicorn tests.fastapi.example_app:app
    RAWDB_URL=postgresql://postgres@127.0.0.1:5432/test uvicorn tests.fastapi.example_app:app

The old system handed the request's session to the background job, which then
reopened it after the request had closed it. Here the job takes the *pool* and opens
its own short transactions, and holds no connection while the work itself runs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException
from pydantic import BaseModel

import rawdb.fastapi
from rawdb import Pool, Transaction, store
from rawdb.store import tasks as task_store
from rawdb.store.models import Task

log = logging.getLogger("example_app")

Work = Callable[[Task], Awaitable[str]]
"""What a task does: given the task (status ``running``), return its result text."""


async def echo_work(task: Task) -> str:
    return f"done: {task.task_description}"


class NewTask(BaseModel):
    session_id: str
    task_description: str
    llm_profile_name: str = "default"


async def run_task(pool: Pool, task_id: str, work: Work) -> None:
    """The background job: each status change is its own committed transaction."""
    async with pool.transaction() as tx:
        if not await task_store.update_task_status(tx, task_id, "running"):
            log.error("task %s vanished before it started", task_id)
            return
        task = await task_store.get_task(tx, task_id)
    assert task is not None
    try:
        result = await work(task)  # no connection is held while the work runs
    except Exception as exc:
        log.exception("task %s failed", task_id)
        async with pool.transaction() as tx:
            await task_store.update_task_completion(
                tx, task_id, task_status="failed", error_message=f"{type(exc).__name__}: {exc}"
            )
        return
    async with pool.transaction() as tx:
        await task_store.update_task_completion(tx, task_id, task_result=result)


def create_app(
    url: str | None = None, *, migrate: bool = True, work: Work = echo_work, **pool_options: Any
) -> FastAPI:
    """The application; ``url`` defaults to ``$RAWDB_URL``, else ``sqlite:///rawdb.db``.

    Its tables are rawdb's bundled application schema, named as the migrations to apply.
    """
    app = FastAPI(
        title="rawdb example: tasks",
        lifespan=rawdb.fastapi.lifespan(url, directory=store.MIGRATIONS, migrate=migrate, **pool_options),
    )

    @app.post("/tasks", status_code=202)
    async def submit_task(
        body: NewTask,
        background: BackgroundTasks,
        tx: Annotated[Transaction, Depends(rawdb.fastapi.transaction)],
        pool: Annotated[Pool, Depends(rawdb.fastapi.pool)],
    ) -> dict[str, str]:
        task_id = str(uuid.uuid4())
        task = await task_store.save_task(
            tx, task_id, body.session_id, body.task_description, body.llm_profile_name
        )
        # The job gets the pool, never `tx`: by the time it runs, tx has committed and ended.
        background.add_task(run_task, pool, task_id, work)
        return {"task_id": task.task_id, "status": task.status}

    @app.get("/tasks/{task_id}")
    async def task_status(
        task_id: str, tx: Annotated[Transaction, Depends(rawdb.fastapi.readonly_transaction)]
    ) -> dict[str, Any]:
        task = await task_store.get_task(tx, task_id)
        if task is None:
            raise HTTPException(status_code=404, detail=f"no task {task_id}")
        builtins: dict[str, Any] = msgspec.to_builtins(task)
        return builtins

    return app


app = create_app()
"""For ``uvicorn tests.fastapi.example_app:app`` (the lifespan runs only when served)."""
