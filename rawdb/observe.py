"""Seeing what a pool does: OpenTelemetry spans and metrics, and the slow-query log.

A pool gets an `Observer` only when something is watching: ``slow_query_threshold``
is set, or tracing is on (``tracing=True``, or left to ``None`` and an
OpenTelemetry SDK tracer provider is installed). Otherwise the pool's observer is
None and a statement pays one attribute test, so an application that does not
trace pays nothing for the feature.

Spans follow the OpenTelemetry database conventions: one client span per
statement (``db.system``/``db.system.name``, ``db.namespace``,
``db.operation.name``, ``db.query.text``, ``server.address``/``server.port``,
and ``rawdb.query.name`` for a named query) under one span per transaction.
The query text is the SQL as written, with ``:name`` placeholders: parameter
values never reach a span or a log line, and neither do error messages (a
database repeats offending values in them), only the error's class.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from rawdb.queries import QUERY_NAMES

if TYPE_CHECKING:
    from rawdb.config import PoolOptions
    from rawdb.dialects.base import Dialect
    from rawdb.pool import Pool

R = TypeVar("R")

query_log = logging.getLogger("rawdb.query")

_SYSTEM = {"sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mysql"}


def make_observer(pool: Pool, dialect: Dialect, options: PoolOptions) -> Observer | None:
    """The pool's observer, or None when nothing would watch."""
    tracer = meter = None
    if _tracing_wanted(options.tracing):
        from opentelemetry import metrics, trace

        tracer = trace.get_tracer("rawdb")
        meter = metrics.get_meter("rawdb")
    if tracer is None and options.slow_query_threshold is None:
        return None
    return Observer(pool, dialect, options.slow_query_threshold, tracer, meter)


def _tracing_wanted(setting: bool | None) -> bool:
    if setting is False:
        return False
    if importlib.util.find_spec("opentelemetry") is None:
        if setting:
            from rawdb.errors import ConfigError

            raise ConfigError("tracing=True needs OpenTelemetry: pip install 'rawdb[otel]'")
        return False
    if setting:
        return True
    # Left to rawdb: on when the application installed a real tracer provider (the
    # API alone gives a proxy that records nothing, and wrapping for it is waste).
    from opentelemetry import trace

    return type(trace.get_tracer_provider()).__name__ not in ("ProxyTracerProvider", "NoOpTracerProvider")


def _operation(sql: str) -> str:
    """The statement's first keyword (SELECT, INSERT…), skipping comments and brackets."""
    text = sql.lstrip()
    while text.startswith(("--", "/*", "(")):
        if text.startswith("--"):
            text = text.partition("\n")[2].lstrip()
        elif text.startswith("/*"):
            text = text.partition("*/")[2].lstrip()
        else:
            text = text[1:].lstrip()
    word = text.split(None, 1)[0] if text else ""
    return word.upper() if word.isalpha() else ""


class Observer:
    """Spans, metrics and the slow-query log for one pool."""

    def __init__(self, pool: Pool, dialect: Dialect, slow: float | None, tracer: Any, meter: Any) -> None:
        self._slow = slow
        self._tracer = tracer
        url = dialect.url
        attrs: dict[str, Any] = {"db.system": _SYSTEM[dialect.name], "db.system.name": _SYSTEM[dialect.name]}
        namespace = url.path if dialect.name == "sqlite" else url.database
        if namespace:
            attrs["db.namespace"] = namespace
        if url.host:
            attrs["server.address"] = url.host
        if url.port:
            attrs["server.port"] = url.port
        self._attrs = attrs
        self._wait_time = None
        if meter is not None:
            self._wait_time = self._install_metrics(pool, dialect, meter)

    # -- statements -------------------------------------------------------------------------
    async def statement(self, sql: str, run: Callable[[], Awaitable[R]]) -> R:
        name = QUERY_NAMES.get(sql)
        started = time.perf_counter()
        try:
            if self._tracer is None:
                return await run()
            operation = _operation(sql)
            attrs = dict(self._attrs)
            attrs["db.query.text"] = sql
            if operation:
                attrs["db.operation.name"] = operation
            if name:
                attrs["rawdb.query.name"] = name
            span_name = name or operation or "statement"
            from opentelemetry.trace import SpanKind

            with self._tracer.start_as_current_span(span_name, kind=SpanKind.CLIENT, attributes=attrs,
                                                    record_exception=False,
                                                    set_status_on_exception=False) as span:
                try:
                    return await run()
                except BaseException as exc:
                    _mark_error(span, exc)
                    raise
        finally:
            elapsed = time.perf_counter() - started
            if self._slow is not None and elapsed >= self._slow:
                what = name or " ".join(sql.split())[:300]
                query_log.warning("slow query (%.3fs >= slow_query_threshold=%ss): %s",
                                  elapsed, self._slow, what)

    # -- transactions ------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, readonly: bool) -> Iterator[None]:
        """A span around one transaction block, current while the block runs, so
        that its statements' spans are its children."""
        if self._tracer is None:
            yield
            return
        from opentelemetry.trace import SpanKind

        attrs = dict(self._attrs)
        attrs["rawdb.transaction.readonly"] = readonly
        with self._tracer.start_as_current_span("TRANSACTION", kind=SpanKind.CLIENT, attributes=attrs,
                                                record_exception=False, set_status_on_exception=False) as span:
            try:
                yield
            except BaseException as exc:
                _mark_error(span, exc)
                raise

    def acquired(self, waited: float) -> None:
        if self._wait_time is not None:
            self._wait_time.record(waited, {"db.client.connection.pool.name": self._pool_name})

    # -- pool metrics ----------------------------------------------------------------------
    def _install_metrics(self, pool: Pool, dialect: Dialect, meter: Any) -> Any:
        from opentelemetry.metrics import CallbackOptions, Observation

        self._pool_name = dialect.describe()  # redacted: no password
        ref = weakref.ref(pool)  # the instruments must not keep a dropped pool alive
        name = {"db.client.connection.pool.name": self._pool_name}

        def stats() -> Any:
            alive = ref()
            return None if alive is None else alive.stats()

        def count(options: CallbackOptions) -> Iterator[Observation]:
            s = stats()
            if s is not None:
                yield Observation(s.idle, {**name, "db.client.connection.state": "idle"})
                yield Observation(s.in_use, {**name, "db.client.connection.state": "used"})

        def gauge(field: str) -> Callable[[CallbackOptions], Iterator[Observation]]:
            def observe(options: CallbackOptions) -> Iterator[Observation]:
                s = stats()
                if s is not None:
                    yield Observation(getattr(s, field), name)
            return observe

        meter.create_observable_up_down_counter(
            "db.client.connection.count", [count], unit="{connection}",
            description="Connections of the pool, by state")
        meter.create_observable_up_down_counter(
            "db.client.connection.max", [gauge("max_size")], unit="{connection}")
        meter.create_observable_up_down_counter(
            "db.client.connection.pending_requests", [gauge("waiting")], unit="{request}",
            description="Tasks waiting for a connection")
        meter.create_observable_counter(
            "db.client.connection.timeouts", [gauge("timeouts_total")], unit="{timeout}",
            description="Acquires that gave up (acquire_timeout or max_waiting)")
        meter.create_observable_counter(
            "rawdb.pool.discarded", [gauge("discarded_total")], unit="{connection}",
            description="Connections closed because their state was unknown or they expired")
        return meter.create_histogram(
            "db.client.connection.wait_time", unit="s", description="Time to obtain a connection")


def _mark_error(span: Any, exc: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    # The class only: database messages repeat the offending values.
    span.set_attribute("error.type", type(exc).__qualname__)
    span.set_status(Status(StatusCode.ERROR))
