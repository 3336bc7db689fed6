"""A small loopback TCP proxy that misbehaves on request.

It sits between rawdb and a server (127.0.0.1 only) and can:
- add latency to every chunk, each direction (``latency``);
- stall: stop forwarding in both directions, for every link, until ``resume()``
  (bytes are kept, as a congested network would keep them);
- hold the reply to one statement: ``hold_replies_after(b"COMMIT")`` forwards the
  first client chunk containing the pattern and then forwards nothing back on that
  link (the server got the COMMIT; the client never hears the answer);
- cut: abort every link at once (RST), as a crashed server or middlebox would.

Reading is never gated, only forwarding: so the proxy notices at once when a
client drops a connection, even a stalled one (``client_closes`` counts them).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
from typing import Any


class _Link:
    def __init__(self, lid: int, client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 server: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.id = lid
        self.client_reader, self.client_writer = client
        self.server_reader, self.server_writer = server
        self.tasks: list[asyncio.Task[Any]] = []
        self.reply_released = asyncio.Event()
        self.reply_released.set()
        self.closed = False
        self.closed_by: str | None = None
        self.closed_at: float | None = None


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            # linger 0: close() sends RST, not FIN, like a peer that vanished.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    transport.abort()


class Proxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.latency = 0.0
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._ids = itertools.count(1)
        self.links: dict[int, _Link] = {}
        self.accepted = 0
        self.client_closes = 0
        self.client_close_times: list[float] = []
        self._trigger: tuple[bytes, asyncio.Event] | None = None
        self.held_link: _Link | None = None

    # -- life cycle ----------------------------------------------------------------------
    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    async def __aenter__(self) -> Proxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- faults ----------------------------------------------------------------------------
    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    @property
    def stalled(self) -> bool:
        return not self._flowing.is_set()

    def hold_replies_after(self, pattern: bytes) -> asyncio.Event:
        """Arm a one-shot trigger; the event is set once the pattern went upstream."""
        event = asyncio.Event()
        self._trigger = (pattern, event)
        return event

    def cut(self) -> None:
        """Abort every open link (both sides, RST)."""
        for link in list(self.links.values()):
            self._close_link(link, "cut")

    def open_links(self) -> list[int]:
        return [lid for lid, link in self.links.items() if not link.closed]

    # -- plumbing --------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            upstream = await asyncio.wait_for(asyncio.open_connection(*self.target), 5)
        except Exception:
            _abort(writer)
            return
        link = _Link(next(self._ids), (reader, writer), upstream)
        self.links[link.id] = link
        c2s: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        s2c: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        link.tasks = [
            loop.create_task(self._read(link, link.client_reader, c2s, "client")),
            loop.create_task(self._write(link, c2s, link.server_writer, upstream=True)),
            loop.create_task(self._read(link, link.server_reader, s2c, "server")),
            loop.create_task(self._write(link, s2c, link.client_writer, upstream=False)),
        ]

    async def _read(self, link: _Link, reader: asyncio.StreamReader,
                    queue: asyncio.Queue[tuple[float, bytes] | None], side: str) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                queue.put_nowait((time.monotonic(), data))
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            return
        if side == "client" and not link.closed:
            self.client_closes += 1
            self.client_close_times.append(time.monotonic())
        # The peer closed: whatever is queued is dropped, the other side is told.
        self._close_link(link, side)

    async def _write(self, link: _Link, queue: asyncio.Queue[tuple[float, bytes] | None],
                     writer: asyncio.StreamWriter, *, upstream: bool) -> None:
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                arrived, data = item
                await self._flowing.wait()
                if not upstream:
                    await link.reply_released.wait()
                if self.latency:
                    delay = arrived + self.latency - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await self._flowing.wait()
                writer.write(data)
                await writer.drain()
                if upstream and self._trigger is not None and self._trigger[0] in data:
                    # Forwarded: the server has the statement; its answer stays here.
                    _, event = self._trigger
                    self._trigger = None
                    link.reply_released.clear()
                    self.held_link = link
                    event.set()
        except (ConnectionError, OSError):
            self._close_link(link, "error")
        except asyncio.CancelledError:
            return

    def _close_link(self, link: _Link, by: str) -> None:
        if link.closed:
            return
        link.closed = True
        link.closed_by = by
        link.closed_at = time.monotonic()
        current = asyncio.current_task()
        for task in link.tasks:
            if task is not current:
                task.cancel()
        for writer in (link.client_writer, link.server_writer):
            if by in ("cut", "error"):
                _abort(writer)
            else:
                with contextlib.suppress(Exception):
                    writer.close()
