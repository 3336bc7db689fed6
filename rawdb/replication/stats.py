"""What `Pool.stats()` reports about replicas and read routing."""

from __future__ import annotations

import msgspec


class ReplicaStats(msgspec.Struct, frozen=True):
    """One replica, as the pool sees it now."""

    url: str  # redacted: never a password
    # "up": takes reads; "lagging": reachable, but behind by more than max_replica_lag (or by
    # an unknown amount); "down": unreachable or failing; "not_replica": the server is a primary.
    state: str
    lag: float | None  # seconds behind the primary at the last probe; None when unknown
    size: int
    idle: int
    in_use: int
    handouts_total: int  # read-only transactions begun on it
    down_total: int  # times it was taken out of rotation after a failure
    last_error: str | None = None


class RoutingStats(msgspec.Struct, frozen=True):
    """Where this pool's read-only transactions went, and what read-your-writes cost."""

    reads_total: int = 0
    replica_reads_total: int = 0
    primary_reads_total: int = 0  # read-only transactions the primary served (all causes below)
    causal_fallbacks_total: int = 0  # no replica had replayed the required commit within causal_wait
    unavailable_fallbacks_total: int = 0  # no replica up and within max_replica_lag
    causal_checks_total: int = 0  # round trips spent asking a replica how far it has replayed
    moved_total: int = 0  # transactions moved to another server after their replica was lost
    positions_recorded_total: int = 0  # commit positions learnt on the primary
    position_failures_total: int = 0  # commits whose position could not be learnt
