"""The contenders: rawdb, the bare drivers, and SQLAlchemy 2 (when the ``bench`` extra is installed)."""

from __future__ import annotations

from benchmarks.contenders.bare import BareContender
from benchmarks.contenders.base import ALL_WORKLOADS, Contender
from benchmarks.contenders.rawdb import RawdbContender, RawdbNormalContender
from benchmarks.databases import Target

# bare_lax: the bare driver minus a guarantee rawdb keeps (see contenders/bare.py);
# measured only where that changes anything.
# rawdb_normal: rawdb with SQLite's synchronous=NORMAL; W2 and W5 on SQLite only.
# bare_fair: the bare SQLite pool handing readers out first come, first served, as
# rawdb's does (W5 only).
ORDER = ("rawdb", "rawdb_normal", "bare", "bare_lax", "bare_fair", "sa_orm", "sa_orm_objects", "sa_core")


def sqlalchemy_missing() -> str | None:
    """Why the SQLAlchemy contenders cannot run, or None."""
    try:
        import greenlet  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install 'rawdb[bench]')"
    return None


def make(key: str, target: Target) -> Contender:
    if key == "rawdb":
        return RawdbContender(target)
    if key == "rawdb_normal":
        return RawdbNormalContender(target)
    if key == "bare":
        return BareContender.for_target(target)
    if key == "bare_lax":
        return BareContender.for_target(target, lax=True)
    if key == "bare_fair":
        return BareContender.for_target(target, fair=True)
    from benchmarks.contenders import sqlalchemy as sa

    classes: dict[str, type[Contender]] = {
        "sa_orm": sa.SAOrmContender, "sa_orm_objects": sa.SAOrmObjectsContender,
        "sa_core": sa.SACoreContender,
    }
    return classes[key](target)


__all__ = ["ALL_WORKLOADS", "ORDER", "Contender", "make", "sqlalchemy_missing"]
