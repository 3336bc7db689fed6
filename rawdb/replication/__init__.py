"""Read replicas: read-only transactions on replicas, everything else on the primary.

``create_pool(url, replicas=[...])`` (or ``?replica=host:port`` in the URL) opens
the primary's pool and one pool per replica. Read-only transactions go to a
replica that is up, within ``max_replica_lag`` and, with ``read_your_writes``
(the default), has replayed every commit this pool made before the transaction
began; otherwise to the primary. See `rawdb.replication.router` for how, and the
README's "Scaling out" for the guarantees.

The package imports nothing at import time: the pool imports its stats types.
"""
