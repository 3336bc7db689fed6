"""A migrator in its own process, for the SIGKILL and two-process tests.

    python migrate_worker.py URL OPTIONS_JSON DIRECTORY [--go-file PATH] [--tasks N]

Prints one JSON object per line: ``ready`` once the pool is open, ``start``/``done``
per script, then ``result`` (versions applied) or ``error`` (type and message).
With ``--go-file`` it waits for that file to exist before migrating, so several
processes can start at the same moment. ``--tasks N`` runs N migrators at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import rawdb
from rawdb.migrations import Migrator, ProgressEvent


def emit(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("options")
    parser.add_argument("directory")
    parser.add_argument("--go-file")
    parser.add_argument("--tasks", type=int, default=1)
    parser.add_argument("--lock-timeout", type=float, default=60.0)
    args = parser.parse_args()
    options = json.loads(args.options)
    pool = await rawdb.create_pool(args.url, max_size=max(2, args.tasks + 1), **options)
    try:
        emit(event="ready", pid=os.getpid())
        if args.go_file:
            # Another process creates the file: there is no event to wait on, so poll.
            while not os.path.exists(args.go_file):  # noqa: ASYNC110, ASYNC240
                await asyncio.sleep(0.002)

        def progress(e: ProgressEvent) -> None:
            emit(event=e.kind, version=e.version, name=e.name)

        async def one() -> list[int]:
            report = await Migrator(pool, args.directory, lock_timeout=args.lock_timeout, progress=progress).apply()
            return [a.version for a in report.applied]

        try:
            results = await asyncio.gather(*(one() for _ in range(args.tasks)))
        except rawdb.RawDBError as exc:
            emit(event="error", type=type(exc).__name__, message=str(exc))
            return 1
        emit(event="result", applied=[v for r in results for v in r], at=time.time())
        return 0
    finally:
        await pool.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
