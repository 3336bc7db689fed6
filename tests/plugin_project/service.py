"""The code under test: ordinary rawdb code that commits its own transactions."""

from __future__ import annotations

from fastapi import FastAPI

import rawdb
import rawdb.fastapi


async def open_account(pool: rawdb.Pool, account_id: int, owner: str, balance: int) -> None:
    async with pool.transaction() as tx:
        await tx.execute("INSERT INTO accounts (id, owner, balance) VALUES (:id, :owner, :balance)",
                         {"id": account_id, "owner": owner, "balance": balance})


async def deposit(pool: rawdb.Pool, entry_id: int, account_id: int, amount: int) -> None:
    async with pool.transaction() as tx:
        await tx.execute("UPDATE accounts SET balance = balance + :amount WHERE id = :id",
                         {"amount": amount, "id": account_id})
        async with pool.transaction() as audit:  # an independent transaction in production
            await audit.execute("INSERT INTO ledger (id, account_id, amount) VALUES (:id, :acc, :amount)",
                                {"id": entry_id, "acc": account_id, "amount": amount})


async def balance(pool: rawdb.Pool, account_id: int) -> int | None:
    async with pool.transaction(readonly=True) as tx:
        value = await tx.fetch_val("SELECT balance FROM accounts WHERE id = :id", {"id": account_id})
        return None if value is None else int(value)


app = FastAPI()


@app.post("/accounts/{account_id}")
async def create(account_id: int, owner: str, tx: rawdb.fastapi.TransactionDep) -> dict[str, int]:
    await tx.execute("INSERT INTO accounts (id, owner, balance) VALUES (:id, :owner, 0)",
                     {"id": account_id, "owner": owner})
    return {"id": account_id}
