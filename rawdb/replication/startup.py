"""Opening a pool with replicas: configuration checked first, then primary, then replicas."""

from __future__ import annotations

from collections.abc import Iterable

from rawdb.config import DatabaseURL, PoolOptions
from rawdb.pool import Pool
from rawdb.replication.urls import replica_urls


async def open_replicated(url: DatabaseURL, options: PoolOptions, replicas: Iterable[str]) -> Pool:
    """The primary's pool, started, with its replicas probed and their pools opened."""
    from rawdb.replication.probes import probe_for
    from rawdb.replication.replica import Replica
    from rawdb.replication.router import Router

    urls = replica_urls(url, replicas)  # every configuration error before any connection
    writes = probe_for(url.dialect)
    pool = Pool(writes.primary_dialect(url, options), options)
    await pool._start()
    reads = probe_for(url.dialect)
    router = Router(pool, writes, reads, [Replica(u, options, reads, probe_for(url.dialect)) for u in urls])
    try:
        await router.start()
    except BaseException:
        await router.close(timeout=0)
        await pool.close(timeout=0)
        raise
    pool._replication = router
    return pool

