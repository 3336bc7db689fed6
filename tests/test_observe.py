"""Tracing, pool metrics and the slow-query log, with the OpenTelemetry SDK's
in-memory exporters (in a process of its own: a tracer provider is global)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import pytest

import rawdb
from tests.conftest import IsolatedDatabase, require_server

SECRET = "sk-live-5ecret-value-never-logged"

SCRIPT = textwrap.dedent("""
    import asyncio, json, sys
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

    import rawdb

    async def main(url, options, secret):
        async with await rawdb.create_pool(url, **options) as pool:
            async with pool.connection() as conn:
                await conn.execute_verbatim("CREATE TABLE otel_items (id INTEGER PRIMARY KEY, note VARCHAR(80))")
            exporter.clear()
            async with pool.transaction() as tx:  # W2's shape: INSERT, then UPDATE its status; and a read
                await tx.execute("INSERT INTO otel_items (id, note) VALUES (:id, :note)", {"id": 1, "note": secret})
                await tx.execute("UPDATE otel_items SET note = :note WHERE id = :id", {"id": 1, "note": secret + "!"})
                await tx.fetch_one("SELECT note FROM otel_items WHERE id = :id", {"id": 1})
            try:
                async with pool.transaction() as tx:
                    await tx.execute("INSERT INTO otel_items (id, note) VALUES (:id, :note)", {"id": 1, "note": secret})
            except rawdb.UniqueViolation:
                pass
        spans = [{"name": s.name, "id": s.context.span_id, "parent": s.parent.span_id if s.parent else None,
                  "attributes": dict(s.attributes), "status": s.status.status_code.name,
                  "events": [e.name for e in s.events]} for s in exporter.get_finished_spans()]
        data = reader.get_metrics_data()
        names = sorted({m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics})
        print(json.dumps({"spans": spans, "metrics": names}))

    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]))
""")


def run_traced(isolated: IsolatedDatabase) -> dict[str, object]:
    options = dict(isolated.options)
    result = subprocess.run([sys.executable, "-c", SCRIPT, isolated.url, json.dumps(options), SECRET],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


async def test_statements_are_spans_under_their_transaction(isolated: IsolatedDatabase) -> None:
    await require_server(isolated.dialect)
    out = run_traced(isolated)
    spans = out["spans"]
    assert isinstance(spans, list)
    transactions = [s for s in spans if s["name"] == "TRANSACTION"]
    assert len(transactions) == 2
    first, failed = transactions
    children = [s for s in spans if s["parent"] == first["id"]]
    assert [s["attributes"]["db.operation.name"] for s in children] == ["INSERT", "UPDATE", "SELECT"]
    system = {"sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mysql"}[isolated.dialect]
    for span in children:
        attrs = span["attributes"]
        assert attrs["db.system"] == system == attrs["db.system.name"]
        assert ":id" in attrs["db.query.text"]
        if isolated.dialect != "sqlite":
            assert attrs["server.address"] == "127.0.0.1" and isinstance(attrs["server.port"], int)
            assert attrs["db.namespace"]
    assert first["status"] == "UNSET"
    assert failed["status"] == "ERROR"
    [failed_insert] = [s for s in spans if s["parent"] == failed["id"]]
    assert failed_insert["status"] == "ERROR" and failed_insert["attributes"]["error.type"]
    assert SECRET not in json.dumps(out)
    assert {"db.client.connection.count", "db.client.connection.wait_time",
            "db.client.connection.pending_requests"} <= set(out["metrics"])  # type: ignore[arg-type]


async def test_slow_query_log_names_the_query_never_its_values(caplog: pytest.LogCaptureFixture,
                                                               isolated: IsolatedDatabase) -> None:
    slow_pool = await isolated.pool(slow_query_threshold=1e-9, tracing=False)
    try:
        from rawdb.queries import QueryGroup

        group = QueryGroup("notes", {"count_all": "SELECT count(*) AS n FROM slow_items WHERE note <> :secret"})
        async with slow_pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE slow_items (id INTEGER PRIMARY KEY, note VARCHAR(80))")
        caplog.set_level(logging.WARNING, logger="rawdb.query")
        async with slow_pool.transaction() as tx:
            await tx.fetch_val(group.count_all, {"secret": SECRET})
            await tx.fetch_val("SELECT 1 + :x", {"x": 41})
    finally:
        await slow_pool.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "rawdb.query"]
    assert any("notes.count_all" in m for m in messages), messages
    assert any("SELECT 1 + :x" in m for m in messages), messages
    assert all(SECRET not in m for m in messages)


def test_tracing_option_is_validated() -> None:
    from rawdb.config import build_options

    assert build_options({"tracing": "off"}, {}).tracing is False
    assert build_options({}, {"tracing": True}).tracing is True
    with pytest.raises(rawdb.ConfigError, match="tracing"):
        build_options({"tracing": "sometimes"}, {})
    with pytest.raises(rawdb.ConfigError, match="slow_query_threshold"):
        build_options({}, {"slow_query_threshold": -1})
