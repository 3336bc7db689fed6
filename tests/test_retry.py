"""pool.retrying(): transaction blocks run again after serialization failures and deadlocks.

The failures are real: PostgreSQL SERIALIZABLE aborting write skew and concurrent
read-then-write, rows locked in opposite orders on PostgreSQL and MariaDB, a backend
killed mid-transaction, a COMMIT that outlives ``command_timeout``. Every test checks
what the tables hold afterwards: each piece of work applied exactly once, none lost.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import pytest

import rawdb
from rawdb.retry import backoff, retryable
from tests.conftest import IsolatedDatabase
from tests.helpers import backend_id, kill_backend

SERVERS = ["postgresql", "mysql"]


async def create_accounts(pool: rawdb.Pool, count: int, balance: int) -> None:
    async with pool.connection() as conn:
        await conn.execute_verbatim("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL)")
        await conn.execute_verbatim(
            "CREATE TABLE transfers (id INTEGER PRIMARY KEY, src INTEGER NOT NULL, dst INTEGER NOT NULL,"
            " amount BIGINT NOT NULL)")
        await conn.executemany("INSERT INTO accounts (id, balance) VALUES (:id, :balance)",
                               [{"id": i, "balance": balance} for i in range(1, count + 1)])


async def balances(pool: rawdb.Pool) -> dict[int, int]:
    async with pool.connection() as conn:
        return {r[0]: int(r[1]) for r in await conn.fetch_all("SELECT id, balance FROM accounts ORDER BY id")}


async def logged(pool: rawdb.Pool) -> list[tuple[int, int, int, int]]:
    async with pool.connection() as conn:
        rows = await conn.fetch_all("SELECT id, src, dst, amount FROM transfers ORDER BY id")
    return [(r[0], r[1], r[2], int(r[3])) for r in rows]


@pytest.fixture
async def bank(isolated: IsolatedDatabase) -> AsyncIterator[rawdb.Pool]:
    pool = await isolated.pool(max_size=4, acquire_timeout=20)
    try:
        await create_accounts(pool, 2, 100)
        yield pool
    finally:
        await pool.close()


# -- without contention: one attempt, nothing special ------------------------------------------
async def test_a_block_that_commits_runs_once(bank: rawdb.Pool) -> None:
    retrying = bank.retrying(attempts=3)
    runs = 0
    async for attempt in retrying:
        async with attempt as tx:
            runs += 1
            await tx.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 1")
            left = await tx.fetch_val("SELECT balance FROM accounts WHERE id = 1")
    assert (runs, retrying.retries, retrying.attempt_number, attempt.number) == (1, 0, 1, 1)
    assert attempt.succeeded
    assert int(left) == 90  # assigned in the attempt that committed: valid after the loop
    assert await balances(bank) == {1: 90, 2: 100}
    assert bank.stats().in_use == 0


async def test_run_and_the_decorator_return_the_function_result(bank: rawdb.Pool) -> None:
    @rawdb.retry(attempts=3)
    async def move(tx: rawdb.Transaction, src: int, dst: int, *, amount: int) -> int:
        await tx.execute("UPDATE accounts SET balance = balance - :a WHERE id = :id", {"a": amount, "id": src})
        await tx.execute("UPDATE accounts SET balance = balance + :a WHERE id = :id", {"a": amount, "id": dst})
        return int(await tx.fetch_val("SELECT balance FROM accounts WHERE id = :id", {"id": dst}))

    assert await move(bank, 1, 2, amount=5) == 105
    assert move.__name__ == "move"

    async def read(tx: rawdb.Transaction, account: int) -> int:
        return int(await tx.fetch_val("SELECT balance FROM accounts WHERE id = :id", {"id": account}))

    assert await bank.retrying(readonly=True).run(read, 1) == 95


async def test_an_error_that_is_not_retryable_leaves_at_once(bank: rawdb.Pool) -> None:
    retrying = bank.retrying(attempts=5, retry_lock_timeout=True, retry_connection_lost=True)
    with pytest.raises(rawdb.UniqueViolation) as info:
        async for attempt in retrying:
            async with attempt as tx:
                await tx.execute("UPDATE accounts SET balance = 0 WHERE id = 1")
                await tx.execute("INSERT INTO accounts (id, balance) VALUES (2, 0)")
    assert (retrying.attempt_number, retrying.retries) == (1, 0)
    assert not getattr(info.value, "__notes__", None)  # not a retry decision: no note
    assert await balances(bank) == {1: 100, 2: 100}


async def test_each_attempt_must_be_used(bank: rawdb.Pool) -> None:
    with pytest.raises(rawdb.InterfaceError, match="async with attempt as tx"):
        async for _attempt in bank.retrying():
            pass
    async for attempt in bank.retrying():
        async with attempt as tx:
            await tx.execute("UPDATE accounts SET balance = 1 WHERE id = 1")
        with pytest.raises(rawdb.InterfaceError, match="entered once"):
            async with attempt:
                pass


@pytest.mark.parametrize("dialect", ["sqlite"])
@pytest.mark.parametrize(("options", "named"), [
    ({"attempts": 0}, "attempts"),
    ({"attempts": 2.5}, "attempts"),
    ({"attempts": True}, "attempts"),
    ({"base_delay": -1}, "base_delay"),
    ({"max_delay": float("inf")}, "max_delay"),
    ({"max_elapsed": 0}, "max_elapsed"),
    ({"on_retry": "print"}, "on_retry"),
])
async def test_bad_options_raise_config_error_naming_them(bank: rawdb.Pool, options: dict[str, Any],
                                                         named: str) -> None:
    with pytest.raises(rawdb.ConfigError, match=named):
        bank.retrying(**options)
    with pytest.raises(rawdb.ConfigError, match=named):
        rawdb.retry(**options)


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_a_bad_isolation_level_fails_before_any_attempt(bank: rawdb.Pool) -> None:
    with pytest.raises(rawdb.ConfigError, match="isolation"):
        bank.retrying(isolation="snapshot")


# -- which errors, how long to wait ------------------------------------------------------------
def test_what_is_retryable() -> None:
    def aborted(cause: BaseException) -> rawdb.TransactionAborted:
        error = rawdb.TransactionAborted("the transaction was rolled back")
        error.__cause__ = cause
        return error

    unknown = rawdb.ConnectionLost("connection lost during COMMIT")
    unknown.outcome_unknown = True
    assert retryable(rawdb.SerializationError("x")) and retryable(rawdb.DeadlockError("x"))
    assert retryable(aborted(rawdb.DeadlockError("x")))
    assert retryable(aborted(aborted(rawdb.SerializationError("x"))))
    assert not retryable(aborted(rawdb.UniqueViolation("x")))
    assert not retryable(rawdb.TransactionAborted("ended inside the block"))
    assert not retryable(rawdb.LockTimeout("x")) and retryable(rawdb.LockTimeout("x"), lock_timeout=True)
    assert not retryable(rawdb.ConnectionLost("x"))
    assert retryable(rawdb.ConnectionLost("x"), connection_lost=True)
    assert not retryable(unknown, connection_lost=True)
    assert retryable(unknown, unknown_outcome=True)
    assert not retryable(rawdb.QueryTimeout("x")) and not retryable(rawdb.PoolTimeout("x"))


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    for retry, cap in ((1, 0.01), (2, 0.02), (4, 0.08), (8, 1.0), (5000, 1.0)):
        delays = [backoff(retry, 0.01, 1.0) for _ in range(500)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8 and min(delays) < cap * 0.2  # spread over the whole range
    assert backoff(3, 0.0, 1.0) == 0.0


# -- deadlocks: two transactions locking rows in opposite orders --------------------------------
class Crossing(msgspec.Struct):
    """What happened to one of two transfers that lock accounts 1 and 2 in opposite orders."""

    retrying: rawdb.Retrying
    runs: int = 0
    error: BaseException | None = None


async def cross(pool: rawdb.Pool, make: Callable[[], rawdb.Retrying], *, swallow: bool = False,
                side_effect: bool = False) -> dict[str, Crossing]:
    """On its first attempt each transfer holds its first lock until the other holds its
    own, then asks for the other's: a deadlock, and the database aborts one of them."""
    holding = {"a": asyncio.Event(), "b": asyncio.Event()}
    route = {"a": (1, 2, 100), "b": (2, 1, 200)}
    outcomes: dict[str, Crossing] = {}

    async def transfer(name: str) -> None:
        src, dst, transfer_id = route[name]
        other = "b" if name == "a" else "a"
        outcome = outcomes[name] = Crossing(make())
        try:
            async for attempt in outcome.retrying:
                async with attempt as tx:
                    outcome.runs += 1
                    await tx.execute("UPDATE accounts SET balance = balance - 1 WHERE id = :id", {"id": src})
                    if attempt.number == 1:
                        if side_effect:
                            attempt.mark_side_effect()
                        holding[name].set()
                        await asyncio.wait_for(holding[other].wait(), 10)
                    deadlocked = False
                    try:
                        await tx.execute("UPDATE accounts SET balance = balance + 1 WHERE id = :id", {"id": dst})
                    except rawdb.DeadlockError:
                        if not swallow:
                            raise
                        deadlocked = True  # the victim shrugs; the block's exit must not commit
                    if not deadlocked:
                        await tx.execute("INSERT INTO transfers (id, src, dst, amount) VALUES (:id, :src, :dst, 1)",
                                         {"id": transfer_id, "src": src, "dst": dst})
        except Exception as exc:
            outcome.error = exc

    await asyncio.wait_for(asyncio.gather(transfer("a"), transfer("b")), 60)
    return outcomes


def deadlock_settings(dialect: str) -> dict[str, Any]:
    # PostgreSQL looks for deadlocks after deadlock_timeout (1 s by default).
    if dialect == "postgresql":
        return {"connect_options": {"server_settings": {"deadlock_timeout": "50ms"}}}
    return {}


@pytest.fixture
async def crossing_bank(isolated: IsolatedDatabase) -> AsyncIterator[rawdb.Pool]:
    pool = await isolated.pool(max_size=4, acquire_timeout=20, **deadlock_settings(isolated.dialect))
    try:
        await create_accounts(pool, 2, 100)
        yield pool
    finally:
        await pool.close()


@pytest.mark.parametrize("dialect", SERVERS)
@pytest.mark.parametrize("swallow", [False, True], ids=["raised", "caught-in-block"])
async def test_deadlock_victim_runs_again_and_both_transfers_apply_once(crossing_bank: rawdb.Pool,
                                                                     swallow: bool) -> None:
    events: list[rawdb.RetryEvent] = []
    outcomes = await cross(crossing_bank, lambda: crossing_bank.retrying(attempts=10, on_retry=events.append),
                           swallow=swallow)
    assert all(o.error is None for o in outcomes.values()), outcomes
    # Usually one retry. Under load the victim's second attempt can take the row the
    # winner was about to get (the victim's lock is gone, the winner not yet awake),
    # and they deadlock again: every extra run is then a counted retry.
    assert sum(o.runs for o in outcomes.values()) == 2 + len(events)
    assert sum(o.retrying.retries for o in outcomes.values()) == len(events) >= 1
    expected = rawdb.TransactionAborted if swallow else rawdb.DeadlockError
    first = events[0]
    assert first.attempt == 1 and 0.0 <= first.delay <= 0.01
    for event in events:
        assert isinstance(event.error, expected)
        if swallow:
            assert isinstance(event.error.__cause__, rawdb.DeadlockError)
    assert [t[0] for t in await logged(crossing_bank)] == [100, 200]
    assert await balances(crossing_bank) == {1: 100, 2: 100}


@pytest.mark.parametrize("dialect", SERVERS)
async def test_a_marked_side_effect_stops_the_retry(crossing_bank: rawdb.Pool) -> None:
    outcomes = await cross(crossing_bank, lambda: crossing_bank.retrying(attempts=3), side_effect=True)
    victims = [o for o in outcomes.values() if o.error is not None]
    assert len(victims) == 1
    (victim,) = victims
    assert isinstance(victim.error, rawdb.DeadlockError)
    assert victim.runs == 1 and victim.retrying.retries == 0
    assert any("side effect" in note for note in victim.error.__notes__)
    assert len(await logged(crossing_bank)) == 1
    assert sum((await balances(crossing_bank)).values()) == 200


@pytest.mark.parametrize("dialect", SERVERS)
async def test_retry_after_side_effects_when_the_caller_says_so(crossing_bank: rawdb.Pool) -> None:
    outcomes = await cross(crossing_bank, lambda: crossing_bank.retrying(attempts=10, retry_after_side_effects=True),
                           side_effect=True)
    assert all(o.error is None for o in outcomes.values())
    assert sum(o.retrying.retries for o in outcomes.values()) >= 1
    assert len(await logged(crossing_bank)) == 2


@pytest.mark.parametrize("dialect", SERVERS)
@pytest.mark.parametrize("limit", ["attempts", "max_elapsed"])
async def test_the_last_error_is_raised_when_retries_run_out(crossing_bank: rawdb.Pool, limit: str) -> None:
    def make() -> rawdb.Retrying:
        if limit == "attempts":
            return crossing_bank.retrying(attempts=1)
        # Even the shortest wait would end after max_elapsed: the deadlock alone took longer.
        return crossing_bank.retrying(attempts=10, base_delay=5, max_delay=5, max_elapsed=0.001)

    outcomes = await cross(crossing_bank, make)
    (victim,) = [o for o in outcomes.values() if o.error is not None]
    assert isinstance(victim.error, rawdb.DeadlockError)  # the database's error, not a wrapper
    assert victim.runs == 1
    note = "all 1 attempts failed" if limit == "attempts" else "max_elapsed=0.001s"
    assert any(note in n for n in victim.error.__notes__), victim.error.__notes__
    assert len(await logged(crossing_bank)) == 1


# -- serialization failures (PostgreSQL) ---------------------------------------------------------
@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_write_skew_under_serializable_is_retried_on_fresh_reads(isolated: IsolatedDatabase) -> None:
    """Two doctors on call; each may go off call only if the other stays. Both read
    two on call; under SERIALIZABLE one of them fails, runs again, reads one on call
    and stays."""
    pool = await isolated.pool(max_size=4)
    try:
        async with pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE doctors (id INTEGER PRIMARY KEY, on_call BOOLEAN NOT NULL)")
            await conn.execute("INSERT INTO doctors VALUES (1, TRUE), (2, TRUE)")
        both_read = {1: asyncio.Event(), 2: asyncio.Event()}
        events: list[rawdb.RetryEvent] = []

        async def go_off_call(doctor: int) -> int:
            retrying = pool.retrying(attempts=5, isolation="serializable", on_retry=events.append)
            async for attempt in retrying:
                async with attempt as tx:
                    on_call = await tx.fetch_val("SELECT COUNT(*) FROM doctors WHERE on_call")
                    if attempt.number == 1:
                        both_read[doctor].set()
                        await asyncio.wait_for(both_read[3 - doctor].wait(), 10)
                    if on_call >= 2:
                        await tx.execute("UPDATE doctors SET on_call = FALSE WHERE id = :id", {"id": doctor})
            return retrying.retries

        retries = await asyncio.wait_for(asyncio.gather(go_off_call(1), go_off_call(2)), 30)
        # One committed at once; the other usually once more (twice if its second
        # attempt still saw the first one running).
        assert min(retries) == 0 and max(retries) >= 1
        assert events and all(isinstance(e.error, rawdb.SerializationError) for e in events), events
        async with pool.connection() as conn:
            assert await conn.fetch_val("SELECT COUNT(*) FROM doctors WHERE on_call") == 1
    finally:
        await pool.close()


@pytest.fixture
async def refusing(isolated: IsolatedDatabase) -> AsyncIterator[rawdb.Pool]:
    """PostgreSQL: a row with ``refuse`` set makes COMMIT fail with SQLSTATE 40001, the
    way SSI's commit-time check does, but every time (a deferred constraint trigger)."""
    pool = await isolated.pool(max_size=4)
    try:
        async with pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE events (id INTEGER PRIMARY KEY, refuse BOOLEAN NOT NULL)")
            await conn.execute_verbatim(
                "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " IF NEW.refuse THEN RAISE EXCEPTION 'refused at commit' USING ERRCODE = 'serialization_failure';"
                " END IF; RETURN NULL; END $$")
            await conn.execute_verbatim(
                "CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT ON events DEFERRABLE INITIALLY DEFERRED"
                " FOR EACH ROW EXECUTE FUNCTION refuse_commit()")
        yield pool
    finally:
        await pool.close()


async def event_ids(pool: rawdb.Pool) -> list[int]:
    async with pool.connection() as conn:
        return [r[0] for r in await conn.fetch_all("SELECT id FROM events ORDER BY id")]


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_a_commit_refused_as_unserializable_is_retried(refusing: rawdb.Pool) -> None:
    retrying = refusing.retrying(attempts=3)
    async for attempt in retrying:
        async with attempt as tx:
            await tx.execute("INSERT INTO events (id, refuse) VALUES (1, :refuse)", {"refuse": attempt.number == 1})
    assert (retrying.retries, attempt.number) == (1, 2)
    assert isinstance(retrying.last_error, rawdb.SerializationError)
    assert await event_ids(refusing) == [1]

    async def insert(tx: rawdb.Transaction, ident: int, state: dict[str, int]) -> str:
        state["runs"] += 1
        await tx.execute("INSERT INTO events (id, refuse) VALUES (:id, :refuse)",
                         {"id": ident, "refuse": state["runs"] == 1})
        return f"run {state['runs']}"

    assert await refusing.retrying().run(insert, 2, {"runs": 0}) == "run 2"
    assert await event_ids(refusing) == [1, 2]


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_leaving_the_block_with_return_before_a_retry_is_reported(refusing: rawdb.Pool) -> None:
    """A COMMIT refused after ``return`` inside the block cannot be retried (nothing is
    raised in the block): the caller is warned that its work was rolled back."""
    async def careless() -> str:
        async for attempt in refusing.retrying():
            async with attempt as tx:
                await tx.execute("INSERT INTO events (id, refuse) VALUES (1, TRUE)")
                return "looks done"
        return "unreachable"

    with pytest.warns(RuntimeWarning, match="rolled back"):
        assert await careless() == "looks done"
        gc.collect()  # the loop object sits in a cycle with the error it kept
    assert await event_ids(refusing) == []


# -- lock timeouts and lost connections: retried only when asked ----------------------------------
@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_lock_timeout_is_retried_when_asked(isolated: IsolatedDatabase) -> None:
    pool = await isolated.pool(max_size=4, connect_options={"server_settings": {"lock_timeout": "100ms"}})
    try:
        await create_accounts(pool, 2, 100)
        holder_locked = asyncio.Event()

        async def hold_the_row(seconds: float) -> None:
            async with pool.transaction() as tx:
                await tx.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
                holder_locked.set()
                await asyncio.sleep(seconds)

        async def debit(**options: Any) -> rawdb.Retrying:
            await holder_locked.wait()
            retrying = pool.retrying(attempts=20, base_delay=0.05, max_delay=0.1, **options)
            async for attempt in retrying:
                async with attempt as tx:
                    await tx.execute("UPDATE accounts SET balance = balance - 1 WHERE id = 1")
            return retrying

        held, refused = await asyncio.gather(hold_the_row(0.5), debit(), return_exceptions=True)
        assert held is None and isinstance(refused, rawdb.LockTimeout), refused
        holder_locked.clear()
        _, retrying = await asyncio.gather(hold_the_row(0.5), debit(retry_lock_timeout=True))
        assert retrying.retries >= 1 and isinstance(retrying.last_error, rawdb.LockTimeout)
        assert (await balances(pool))[1] == 100 + 2 - 1
    finally:
        await pool.close()


@pytest.mark.parametrize("dialect", SERVERS)
@pytest.mark.parametrize("asked", [False, True])
async def test_connection_lost_before_commit_is_retried_when_asked(bank: rawdb.Pool, asked: bool) -> None:
    """The backend is killed from another session mid-transaction: nothing of the
    block was kept, so running it again is safe, and done with retry_connection_lost."""
    retrying = bank.retrying(attempts=3, retry_connection_lost=asked)
    runs = 0

    async def run() -> None:
        nonlocal runs
        async for attempt in retrying:
            async with attempt as tx:
                runs += 1
                await tx.execute("UPDATE accounts SET balance = balance - 7 WHERE id = 1")
                if attempt.number == 1:
                    ident = await backend_id(tx)
                    async with bank.connection() as admin:
                        await kill_backend(admin, bank.dialect.name, ident)
                await tx.execute("INSERT INTO transfers (id, src, dst, amount) VALUES (1, 1, 0, 7)")

    if not asked:
        with pytest.raises(rawdb.ConnectionLost) as info:
            await run()
        assert not info.value.outcome_unknown
        assert (runs, retrying.retries) == (1, 0)
        assert await balances(bank) == {1: 100, 2: 100}
        return
    await run()
    assert (runs, retrying.retries) == (2, 1)
    assert isinstance(retrying.last_error, rawdb.ConnectionLost)
    assert await balances(bank) == {1: 93, 2: 100}
    assert len(await logged(bank)) == 1


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_a_commit_with_unknown_outcome_is_not_retried(isolated: IsolatedDatabase) -> None:
    """COMMIT outlives command_timeout (a deferred trigger sleeps in it): the server goes
    on and commits after the client gave up. Running the block again would apply it
    twice, so even retry_connection_lost=True does not; an idempotent block may ask
    for it with retry_unknown_outcome=True."""
    pool = await isolated.pool(max_size=4, command_timeout=1.0,
                               connect_options={"server_settings": {"statement_timeout": "0"}})
    try:
        async with pool.connection() as conn:
            await conn.execute_verbatim("CREATE TABLE payments (id INTEGER PRIMARY KEY, slow BOOLEAN NOT NULL,"
                                        " amount INTEGER NOT NULL)")
            await conn.execute_verbatim(
                "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " IF NEW.slow THEN PERFORM pg_sleep(1.6); END IF; RETURN NULL; END $$")
            await conn.execute_verbatim(
                "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON payments DEFERRABLE INITIALLY DEFERRED"
                " FOR EACH ROW EXECUTE FUNCTION slow_commit()")

        async def payments(expected: int) -> list[tuple[int, int]]:
            for _ in range(100):  # the abandoned COMMIT finishes on the server in its own time
                async with pool.connection() as conn:
                    rows = await conn.fetch_all("SELECT id, amount FROM payments ORDER BY id")
                if len(rows) >= expected:
                    break
                await asyncio.sleep(0.05)
            return [(r[0], r[1]) for r in rows]

        retrying = pool.retrying(attempts=3, retry_connection_lost=True, retry_lock_timeout=True)
        runs = 0
        with pytest.raises(rawdb.ConnectionLost, match="unknown") as info:
            async for attempt in retrying:
                async with attempt as tx:
                    runs += 1
                    await tx.execute("INSERT INTO payments (id, slow, amount) VALUES (1, TRUE, 10)")
        assert info.value.outcome_unknown
        assert (runs, retrying.retries) == (1, 0)
        assert await payments(1) == [(1, 10)]  # it did commit: a retry would have paid twice

        idempotent = pool.retrying(attempts=3, retry_unknown_outcome=True)
        async for attempt in idempotent:
            async with attempt as tx:
                await tx.execute("INSERT INTO payments (id, slow, amount) VALUES (2, :slow, 20)"
                                 " ON CONFLICT (id) DO NOTHING", {"slow": attempt.number == 1})
        assert idempotent.retries == 1 and idempotent.last_error is not None
        assert await payments(2) == [(1, 10), (2, 20)]
    finally:
        await pool.close()


# -- the acceptance run: 100 concurrent transfers between 10 accounts -----------------------------
class Transfer(msgspec.Struct, frozen=True):
    id: int
    src: int
    dst: int
    amount: int


def planned_transfers(count: int, accounts: int) -> list[Transfer]:
    """Pairs in opposite directions next to each other, so they run at the same time."""
    rng = random.Random(20240601)
    plan: list[Transfer] = []
    while len(plan) < count:
        a, b = rng.sample(range(1, accounts + 1), 2)
        plan.append(Transfer(len(plan), a, b, rng.randint(1, 50)))
        plan.append(Transfer(len(plan), b, a, rng.randint(1, 50)))
    return plan[:count]


async def read_then_write(tx: rawdb.Transaction, t: Transfer) -> None:
    """Balances read, computed in Python, written back: a lost update unless the
    database serializes the transfers (it aborts the ones that would lose one)."""
    src = await tx.fetch_val("SELECT balance FROM accounts WHERE id = :id", {"id": t.src})
    dst = await tx.fetch_val("SELECT balance FROM accounts WHERE id = :id", {"id": t.dst})
    await asyncio.sleep(0.001)
    await tx.execute("UPDATE accounts SET balance = :b WHERE id = :id", {"b": src - t.amount, "id": t.src})
    await tx.execute("UPDATE accounts SET balance = :b WHERE id = :id", {"b": dst + t.amount, "id": t.dst})
    await tx.execute("INSERT INTO transfers (id, src, dst, amount) VALUES (:id, :src, :dst, :amount)",
                     msgspec.structs.asdict(t))


async def lock_source_first(tx: rawdb.Transaction, t: Transfer) -> None:
    """Rows locked in transfer order, not id order: a→b and b→a take them in opposite
    orders and deadlock."""
    src = await tx.fetch_val("SELECT balance FROM accounts WHERE id = :id FOR UPDATE", {"id": t.src})
    await asyncio.sleep(0.002)  # holding the first lock while the opposite transfer takes its own
    dst = await tx.fetch_val("SELECT balance FROM accounts WHERE id = :id FOR UPDATE", {"id": t.dst})
    await tx.execute("UPDATE accounts SET balance = :b WHERE id = :id", {"b": src - t.amount, "id": t.src})
    await tx.execute("UPDATE accounts SET balance = :b WHERE id = :id", {"b": dst + t.amount, "id": t.dst})
    await tx.execute("INSERT INTO transfers (id, src, dst, amount) VALUES (:id, :src, :dst, :amount)",
                     msgspec.structs.asdict(t))


@pytest.mark.parametrize(("dialect", "style"), [
    ("postgresql", "serializable"),
    ("postgresql", "opposite-lock-order"),
    ("mysql", "opposite-lock-order"),
    ("mysql", "serializable"),
])
async def test_100_concurrent_transfers_all_complete_exactly_once(isolated: IsolatedDatabase, style: str) -> None:
    accounts, initial, workers = 10, 1_000, 16
    pool = await isolated.pool(max_size=workers, acquire_timeout=60, **deadlock_settings(isolated.dialect))
    try:
        await create_accounts(pool, accounts, initial)
        plan = planned_transfers(100, accounts)
        queue: asyncio.Queue[Transfer] = asyncio.Queue()
        for t in plan:
            queue.put_nowait(t)
        retried: collections.Counter[str] = collections.Counter()
        runs: collections.Counter[int] = collections.Counter()
        done: list[int] = []
        isolation = "serializable" if style == "serializable" else None
        body = read_then_write if style == "serializable" else lock_source_first

        def count(event: rawdb.RetryEvent) -> None:
            error = event.error.__cause__ if isinstance(event.error, rawdb.TransactionAborted) else event.error
            retried[type(error).__name__] += 1

        async def worker() -> None:
            while not queue.empty():
                t = queue.get_nowait()
                async for attempt in pool.retrying(attempts=100, isolation=isolation, base_delay=0.002,
                                                   max_delay=0.1, max_elapsed=120, on_retry=count):
                    async with attempt as tx:
                        runs[t.id] += 1
                        await body(tx, t)
                done.append(t.id)

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(workers))), 300)

        assert sorted(done) == list(range(100))
        assert await logged(pool) == [(t.id, t.src, t.dst, t.amount) for t in plan]  # each applied once
        expected = {i: initial for i in range(1, accounts + 1)}
        for t in plan:
            expected[t.src] -= t.amount
            expected[t.dst] += t.amount
        final = await balances(pool)
        assert final == expected  # no lost update, no double debit
        assert sum(final.values()) == accounts * initial
        kind = "SerializationError" if (style, isolated.dialect) == ("serializable", "postgresql") else "DeadlockError"
        assert retried[kind] > 0, retried
        assert sum(retried.values()) == sum(runs.values()) - 100
        print(f"{isolated.dialect} {style}: {sum(retried.values())} retries {dict(retried)}, "
              f"most attempts for one transfer {max(runs.values())}")
    finally:
        await pool.close()
