"""credentials: its 4 operations; errors never swallowed, atomic upserts, blank secrets refused."""

from __future__ import annotations

import asyncio

import pytest
from store_helpers import T0, set_column, table_rows

import rawdb
from rawdb import store
from rawdb.store.crypto import FernetCipher

creds = store.credentials


async def test_store_get_delete_list(store_pool: rawdb.Pool, cipher: FernetCipher) -> None:
    async with store_pool.transaction() as tx:
        assert await creds.get_credential(tx, "k", cipher=cipher) is None
        secret = "v1-secret-a9Zq3xK 🔑"
        assert await creds.store_credential(tx, "k", secret, "desc", cipher=cipher) is True
        assert await creds.get_credential(tx, "k", cipher=cipher) == secret
        stored = await tx.fetch_val("SELECT encrypted_value FROM credentials")
        # Long enough that random base64 cannot contain it by chance ("v1" alone did, 1 run in ~40).
        assert "v1-secret-a9Zq3xK" not in stored
        assert await creds.store_credential(tx, "b", "x", cipher=cipher)
        assert await creds.store_credential(tx, "a", "y", cipher=cipher)
    await set_column(store_pool, "credentials", "created_at", T0)
    await set_column(store_pool, "credentials", "created_at", T0.replace(year=2023),
                     "key_name = 'k'")
    async with store_pool.transaction() as tx:
        assert await creds.list_credential_names(tx) == ["k", "a", "b"]
        assert await creds.delete_credential(tx, "k") is True
        assert await creds.delete_credential(tx, "k") is False
        assert await creds.get_credential(tx, "k", cipher=cipher) is None
        assert await creds.list_credential_names(tx) == ["a", "b"]


async def test_replace_keeps_description_d17(store_pool: rawdb.Pool, cipher: FernetCipher) -> None:
    async with store_pool.transaction() as tx:
        await creds.store_credential(tx, "k", "v", "desc", cipher=cipher)
    await asyncio.sleep(0.01)
    async with store_pool.transaction() as tx:
        before = await tx.fetch_one("SELECT id, updated_at FROM credentials")
        await creds.store_credential(tx, "k", "v2", cipher=cipher)
        assert await creds.get_credential(tx, "k", cipher=cipher) == "v2"
        row = await tx.fetch_one("SELECT id, description, updated_at FROM credentials")
        assert row["description"] == "desc" and row["id"] == before["id"]
        assert row["updated_at"] != before["updated_at"]
        await creds.store_credential(tx, "k", "v3", "new", cipher=cipher)
        assert await tx.fetch_val("SELECT description FROM credentials") == "new"


async def test_blank_value_rejected_e2(store_pool: rawdb.Pool, cipher: FernetCipher) -> None:
    for blank in ("", "   "):
        with pytest.raises(rawdb.ValidationError, match="value"):
            async with store_pool.transaction() as tx:
                await creds.store_credential(tx, "k", blank, cipher=cipher)
    assert await table_rows(store_pool, "credentials") == []


async def test_legacy_blank_ciphertext_reads_none(store_pool: rawdb.Pool, cipher: FernetCipher) -> None:
    async with store_pool.transaction() as tx:
        await creds.store_credential(tx, "k", "v", cipher=cipher)
        await tx.execute("UPDATE credentials SET encrypted_value = ''")
        assert await creds.get_credential(tx, "k", cipher=cipher) is None
        await tx.execute("UPDATE credentials SET encrypted_value = NULL")
        assert await creds.get_credential(tx, "k", cipher=cipher) is None


async def test_errors_propagate_d16(store_pool: rawdb.Pool, cipher: FernetCipher) -> None:
    async with store_pool.transaction() as tx:
        await creds.store_credential(tx, "k", "v", cipher=cipher)
        await tx.execute("UPDATE credentials SET encrypted_value = :v",
                         {"v": cipher.primary_key_id + ":corrupted-token"})
        with pytest.raises(rawdb.DecryptionError):
            await creds.get_credential(tx, "k", cipher=cipher)
    wrong = FernetCipher([FernetCipher.generate_key()])
    async with store_pool.transaction() as tx:
        await tx.execute("DELETE FROM credentials")
        await creds.store_credential(tx, "k", "v", cipher=cipher)
        with pytest.raises(rawdb.DecryptionError):
            await creds.get_credential(tx, "k", cipher=wrong)
    # a closed connection: the error propagates, never None/False/[]
    async with store_pool.transaction() as tx:
        pass
    for op in (lambda: creds.get_credential(tx, "k", cipher=cipher),
               lambda: creds.store_credential(tx, "k", "v", cipher=cipher),
               lambda: creds.delete_credential(tx, "k"),
               lambda: creds.list_credential_names(tx)):
        with pytest.raises(rawdb.RawDBError):
            await op()


async def test_concurrent_first_store_one_row_d18(store_pool: rawdb.Pool, cipher: FernetCipher) -> None:
    async def one(i: int) -> bool:
        async with store_pool.transaction() as tx:
            return await creds.store_credential(tx, "shared", f"v{i}", cipher=cipher)

    assert all(await asyncio.gather(*(one(i) for i in range(16))))
    async with store_pool.transaction() as tx:
        assert await tx.fetch_val("SELECT COUNT(*) FROM credentials") == 1
        assert (await creds.get_credential(tx, "shared", cipher=cipher)).startswith("v")  # type: ignore[union-attr]
