"""The example task service (example_app.py) on all three dialects, migrated at start-up.

Note on the transport: httpx's ASGITransport returns a response only when the ASGI
call has finished, background tasks included, so a POST here "returns" after its
job. The tests therefore start the POST in a task, hold the job at a gate, and look
at the task through the status endpoint while it runs. A real server sends the 202
as soon as the transaction has committed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from example_app import create_app
from fastapi_support import app_pool, lifespan_args, serving

from rawdb.store.models import Task
from tests.conftest import IsolatedDatabase


class Gate:
    """Work that waits for the test to let it finish, and fails on request."""

    def __init__(self) -> None:
        self.started: asyncio.Queue[Task] = asyncio.Queue()
        self.release = asyncio.Event()

    async def work(self, task: Task) -> str:
        await self.started.put(task)
        await self.release.wait()
        if task.task_description == "explode":
            raise RuntimeError("the work exploded")
        return f"result of {task.task_description}"


NEW = {"session_id": "s-1", "task_description": "write a report", "llm_profile_name": "gpt"}


async def test_submit_run_complete(isolated: IsolatedDatabase) -> None:
    gate = Gate()
    app = create_app(work=gate.work, **lifespan_args(isolated, max_size=5))
    async with serving(app) as client:
        submit = asyncio.create_task(client.post("/tasks", json=NEW))
        task = await asyncio.wait_for(gate.started.get(), 10)
        assert task.status == "running"  # the job's first transaction committed

        running = (await client.get(f"/tasks/{task.task_id}")).json()
        assert running["status"] == "running"
        assert running["session_id"] == "s-1"
        assert running["started_at"] is not None
        assert running["completed_at"] is None
        assert app_pool(app).stats().in_use == 0  # no connection held while the work runs

        gate.release.set()
        response = await submit
        assert response.status_code == 202
        assert response.json() == {"task_id": task.task_id, "status": "pending"}

        done = (await client.get(f"/tasks/{task.task_id}")).json()
        assert done["status"] == "completed"
        assert done["task_result"] == "result of write a report"
        assert done["completed_at"] is not None
        assert done["error_message"] is None
        assert app_pool(app).stats().in_use == 0


async def test_failing_work_marks_the_task_failed(isolated: IsolatedDatabase) -> None:
    gate = Gate()
    gate.release.set()
    app = create_app(work=gate.work, **lifespan_args(isolated, max_size=5))
    async with serving(app) as client:
        response = await client.post("/tasks", json={**NEW, "task_description": "explode"})
        assert response.status_code == 202
        task_id = response.json()["task_id"]
        failed = (await client.get(f"/tasks/{task_id}")).json()
        assert failed["status"] == "failed"
        assert failed["error_message"] == "RuntimeError: the work exploded"
        assert failed["completed_at"] is not None
        assert app_pool(app).stats().in_use == 0


async def test_unknown_task_is_404(isolated: IsolatedDatabase) -> None:
    app = create_app(**lifespan_args(isolated))
    async with serving(app) as client:
        response = await client.get("/tasks/00000000-0000-0000-0000-000000000000")
        assert response.status_code == 404


async def test_an_invalid_submission_stores_nothing(isolated: IsolatedDatabase) -> None:
    app = create_app(**lifespan_args(isolated))
    async with serving(app) as client:
        too_long = {**NEW, "session_id": "s" * 37}  # VARCHAR(36): rejected by the store
        response = await client.post("/tasks", json=too_long)
        assert response.status_code == 500
        async with app_pool(app).transaction(readonly=True) as tx:
            assert await tx.fetch_val("SELECT COUNT(*) FROM tasks") == 0


async def test_many_submissions_all_complete(isolated: IsolatedDatabase) -> None:
    gate = Gate()
    gate.release.set()
    app = create_app(work=gate.work, **lifespan_args(isolated, max_size=3))
    async with serving(app) as client:
        responses = await asyncio.gather(*(
            client.post("/tasks", json={**NEW, "task_description": f"job {i}"}) for i in range(30)))
        assert [r.status_code for r in responses] == [202] * 30
        for r in responses:
            task = (await client.get(f"/tasks/{r.json()['task_id']}")).json()
            assert task["status"] == "completed", task
        assert app_pool(app).stats().in_use == 0


async def test_the_module_level_app_runs_on_sqlite_by_url(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """``uvicorn tests.fastapi.example_app:app`` with ``RAWDB_URL`` set: the same object."""
    import example_app

    monkeypatch.setenv("RAWDB_URL", f"sqlite:///{tmp_path / 'tasks.db'}")
    async with serving(example_app.app) as client:
        response = await client.post("/tasks", json=NEW)
        assert response.status_code == 202
        task = (await client.get(f"/tasks/{response.json()['task_id']}")).json()
        assert task["status"] == "completed"
        assert task["task_result"] == "done: write a report"
    assert (tmp_path / "tasks.db").exists()
