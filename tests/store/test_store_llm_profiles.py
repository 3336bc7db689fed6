"""llm_profiles: its 9 operations and count_profiles, with the old implementation's defects each pinned by a test."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from store_helpers import T0, set_column, table_rows

import rawdb
from rawdb import store
from rawdb.store.crypto import FernetCipher
from rawdb.store.models import LLMProfile

llm = store.llm_profiles


async def test_create_returns_row_as_stored(store_pool: rawdb.Pool, cipher: FernetCipher) -> None:
    async with store_pool.transaction() as tx:
        p = await llm.create_profile(
            tx, "main", "openai", "gpt-4o", api_key="sk-secret", base_url="https://x.test",
            temperature=0.7, max_tokens=4096, top_p=0.9, frequency_penalty=-0.5, seed=42,
            provider_config={"org": "o-1", "nested": {"a": [1, 2]}}, description="d",
            cipher=cipher,
        )
    assert isinstance(p, LLMProfile)
    assert len(p.profile_id) == 36
    assert (p.profile_name, p.provider, p.model, p.base_url) == (
        "main", "openai", "gpt-4o", "https://x.test")
    assert (p.temperature, p.max_tokens, p.top_p, p.frequency_penalty, p.seed) == (
        0.7, 4096, 0.9, -0.5, 42)
    assert p.provider_config == {"org": "o-1", "nested": {"a": [1, 2]}}
    assert p.is_active is True and p.is_default is False and p.last_used_at is None
    assert p.encrypted_api_key and "sk-secret" not in p.encrypted_api_key
    assert p.created_at.tzinfo is UTC and p.updated_at.tzinfo is UTC
    assert [f for f in LLMProfile.__struct_fields__ if "key" in f] == ["encrypted_api_key"]


async def test_create_defaults(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        p = await llm.create_profile(tx, "p", "anthropic", "claude")
    assert p.provider_config == {}
    assert p.encrypted_api_key is None
    assert (p.temperature, p.max_tokens, p.top_p, p.frequency_penalty, p.seed) == (
        None, None, None, None, None)


async def test_duplicate_name_raises_unique_violation(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await llm.create_profile(tx, "dup", "openai", "m")
    before = await table_rows(store_pool, "llm_profiles")
    with pytest.raises(rawdb.UniqueViolation):
        async with store_pool.transaction() as tx:
            await llm.create_profile(tx, "dup", "openai", "other")
    assert await table_rows(store_pool, "llm_profiles") == before


async def test_names_are_case_sensitive(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await llm.create_profile(tx, "Main", "openai", "m")
        await llm.create_profile(tx, "main", "openai", "m")
        assert (await llm.get_profile(tx, "MAIN")) is None
        assert (await llm.get_profile(tx, "Main")).profile_name == "Main"  # type: ignore[union-attr]


async def test_get_profile_missing_and_inactive(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        assert await llm.get_profile(tx, "nope") is None
        await llm.create_profile(tx, "off", "openai", "m")
        assert await llm.update_profile(tx, "off", {"is_active": False})
        p = await llm.get_profile(tx, "off")
        assert p is not None and p.is_active is False


async def test_get_profile_with_decrypted_key(store_pool: rawdb.Pool, cipher: FernetCipher) -> None:
    async with store_pool.transaction() as tx:
        await llm.create_profile(tx, "k", "openai", "m", api_key="sk-1", cipher=cipher)
        await llm.create_profile(tx, "nokey", "openai", "m")
        got = await llm.get_profile_with_decrypted_key(tx, "k", cipher=cipher)
        assert got is not None and got.api_key == "sk-1" and got.profile.profile_name == "k"
        none = await llm.get_profile_with_decrypted_key(tx, "nokey", cipher=cipher)
        assert none is not None and none.api_key is None
        assert await llm.get_profile_with_decrypted_key(tx, "missing", cipher=cipher) is None
        other = FernetCipher([FernetCipher.generate_key()])
        with pytest.raises(rawdb.DecryptionError):
            await llm.get_profile_with_decrypted_key(tx, "k", cipher=other)


async def test_api_key_without_cipher_is_a_config_error(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        with pytest.raises(rawdb.ConfigError):
            await llm.create_profile(tx, "k", "openai", "m", api_key="sk-1")
        assert await llm.get_profile(tx, "k") is None


async def test_blank_api_key_is_null_e2(store_pool: rawdb.Pool, cipher: FernetCipher) -> None:
    async with store_pool.transaction() as tx:
        p = await llm.create_profile(tx, "blank", "openai", "m", api_key="", cipher=cipher)
        assert p.encrypted_api_key is None
        assert await raw_value_tx(tx, "blank") is None
        await llm.update_profile(tx, "blank", {"api_key": "sk-2"}, cipher=cipher)
        assert (await llm.get_profile_with_decrypted_key(tx, "blank", cipher=cipher)).api_key == "sk-2"  # type: ignore[union-attr]
        await llm.update_profile(tx, "blank", {"api_key": ""}, cipher=cipher)
        assert await raw_value_tx(tx, "blank") is None


async def raw_value_tx(tx: rawdb.Transaction, name: str) -> object:
    return await tx.fetch_val(
        "SELECT encrypted_api_key FROM llm_profiles WHERE profile_name = :n", {"n": name})


async def test_list_profiles_order_filter_and_paging(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        for name in ("a", "b", "c", "d"):
            await llm.create_profile(tx, name, "openai", "m")
        await llm.update_profile(tx, "d", {"is_active": False})
        await llm.update_last_used(tx, "b", now=T0)
        await llm.update_last_used(tx, "c", now=T0 + timedelta(seconds=1))
    # Same created_at for the never-used ones: the tiebreaker decides (D20).
    await set_column(store_pool, "llm_profiles", "created_at", T0)
    async with store_pool.transaction() as tx:
        active = await llm.list_profiles(tx)
        names = [p.profile_name for p in active]
        assert names == ["c", "b", "a"]  # used (newest first), then never used
        everything = await llm.list_profiles(tx, active_only=False)
        never_used = sorted((p.profile_id, p.profile_name) for p in everything[2:])
        assert [p.profile_name for p in everything[:2]] == ["c", "b"]
        assert [p.profile_name for p in everything[2:]] == [n for _, n in never_used]
        assert [p.profile_name for p in await llm.list_profiles(tx, limit=1, offset=1)] == ["b"]
        assert [p.profile_name for p in await llm.list_profiles(tx, limit=None, offset=2)] == ["a"]
        assert await llm.list_profiles(tx, limit=0) == []


async def test_list_profiles_limit_minus_one_is_all_d21(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        for i in range(55):
            await llm.create_profile(tx, f"p{i:02d}", "openai", "m")
        assert len(await llm.list_profiles(tx)) == 50  # the old default is kept
        assert len(await llm.list_profiles(tx, limit=-1)) == 55
        assert len(await llm.list_profiles(tx, limit=None)) == 55
        assert len(await llm.list_profiles(tx, limit=-1, offset=50)) == 5
        for bad in ({"limit": -5}, {"offset": -1}, {"limit": True}):
            with pytest.raises(rawdb.ValidationError):
                await llm.list_profiles(tx, **bad)  # type: ignore[arg-type]


async def test_same_second_profiles_list_by_tiebreaker_d20(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        ids = [(await llm.create_profile(tx, f"s{i}", "openai", "m")).profile_id for i in range(5)]
    await set_column(store_pool, "llm_profiles", "created_at", T0)
    async with store_pool.transaction() as tx:
        assert [p.profile_id for p in await llm.list_profiles(tx)] == sorted(ids)


async def test_count_profiles_c1(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        assert await llm.count_profiles(tx) == 0
        for i in range(52):
            await llm.create_profile(tx, f"c{i}", "openai", "m")
        await llm.update_profile(tx, "c0", {"is_active": False})
        assert await llm.count_profiles(tx) == 51
        assert await llm.count_profiles(tx, active_only=False) == 52


async def test_update_profile_allowed_keys(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await llm.create_profile(tx, "u", "openai", "m", temperature=0.1)
        updates = {"model": "m2", "temperature": None, "max_tokens": 10, "description": "x",
                   "provider_config": {"k": "v"}, "base_url": None}
        snapshot = dict(updates)
        assert await llm.update_profile(tx, "u", updates) is True
        assert updates == snapshot  # never mutated (D10)
        p = await llm.get_profile(tx, "u")
        assert p is not None
        assert (p.model, p.temperature, p.max_tokens, p.description, p.provider_config) == (
            "m2", None, 10, "x", {"k": "v"})
        assert await llm.update_profile(tx, "missing", {"model": "z"}) is False
        assert await llm.update_profile(tx, "u", {}) is True
        assert await llm.update_profile(tx, "missing", {}) is False


@pytest.mark.parametrize("key", ["profile_id", "profile_name", "created_at", "updated_at",
                                 "encrypted_api_key", "last_used_at", "bogus; DROP TABLE x"])
async def test_update_rejects_keys_outside_allow_list_d10(store_pool: rawdb.Pool, key: str) -> None:
    async with store_pool.transaction() as tx:
        await llm.create_profile(tx, "u", "openai", "m")
    before = await table_rows(store_pool, "llm_profiles")
    updates = {key: "x", "model": "changed"}
    with pytest.raises(rawdb.ValidationError, match="cannot be updated"):
        async with store_pool.transaction() as tx:
            await llm.update_profile(tx, "u", updates)
    assert updates == {key: "x", "model": "changed"}
    assert await table_rows(store_pool, "llm_profiles") == before


async def test_update_rejects_bad_types(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await llm.create_profile(tx, "u", "openai", "m")
        for updates in ({"temperature": "hot"}, {"is_active": "yes"}, {"max_tokens": 1.5},
                        {"provider_config": [1]}, {"model": None}):
            with pytest.raises(rawdb.ValidationError):
                await llm.update_profile(tx, "u", updates)


async def test_delete_profile(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await llm.create_profile(tx, "x", "openai", "m", is_default=True)
        assert await llm.delete_profile(tx, "x") is True
        assert await llm.delete_profile(tx, "x") is False
        assert await llm.get_profile(tx, "x") is None
        assert await llm.get_default_profile(tx) is None


async def test_default_profile_lifecycle(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        assert await llm.get_default_profile(tx) is None
        await llm.create_profile(tx, "a", "openai", "m", is_default=True)
        assert (await llm.get_default_profile(tx)).profile_name == "a"  # type: ignore[union-attr]
        assert await llm.set_default_profile(tx, "a") is True  # already default
        assert await llm.update_profile(tx, "a", {"is_default": False}) is True
        assert await llm.get_default_profile(tx) is None  # allowed: no default


async def test_set_default_missing_name_changes_nothing_d1(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await llm.create_profile(tx, "A", "openai", "m", is_default=True)
        await llm.create_profile(tx, "B", "openai", "m")
        await llm.create_profile(tx, "C", "openai", "m")
    before = await table_rows(store_pool, "llm_profiles")
    await asyncio.sleep(0.01)
    async with store_pool.transaction() as tx:
        assert await llm.set_default_profile(tx, "nope") is False
    assert await table_rows(store_pool, "llm_profiles") == before
    async with store_pool.transaction() as tx:
        a0, c0 = await llm.get_profile(tx, "A"), await llm.get_profile(tx, "C")
        assert await llm.set_default_profile(tx, "B") is True
        a1, b1, c1 = [await llm.get_profile(tx, n) for n in "ABC"]
    assert a0 is not None and c0 is not None and a1 is not None and c1 is not None
    assert b1 is not None and b1.is_default and not a1.is_default and not c1.is_default
    assert a1.updated_at > a0.updated_at  # A changed
    assert c1.updated_at == c0.updated_at  # unrelated C untouched


async def test_only_one_default_d2(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await llm.create_profile(tx, "A", "openai", "m", is_default=True)
        await llm.create_profile(tx, "B", "openai", "m", is_default=True)
        defaults = [p.profile_name for p in await llm.list_profiles(tx, limit=None) if p.is_default]
        assert defaults == ["B"]
        assert await llm.update_profile(tx, "A", {"is_default": True}) is True
        defaults = [p.profile_name for p in await llm.list_profiles(tx, limit=None) if p.is_default]
        assert defaults == ["A"]
        # is_default on a missing profile clears nothing
        assert await llm.update_profile(tx, "zzz", {"is_default": True}) is False
        assert (await llm.get_default_profile(tx)).profile_name == "A"  # type: ignore[union-attr]


async def test_failed_default_create_keeps_old_default(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await llm.create_profile(tx, "A", "openai", "m", is_default=True)
        with pytest.raises(rawdb.UniqueViolation):
            await llm.create_profile(tx, "A", "openai", "m", is_default=True)
        # the savepoint undid the clearing: A is still the default
        assert (await llm.get_default_profile(tx)).profile_name == "A"  # type: ignore[union-attr]


async def test_one_default_index_exists(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await llm.create_profile(tx, "A", "openai", "m", is_default=True)
        b = await llm.create_profile(tx, "B", "openai", "m")
    with pytest.raises(rawdb.UniqueViolation):
        await set_column(store_pool, "llm_profiles", "is_default", True,
                         "profile_id = :id", {"id": b.profile_id})


async def test_update_last_used_moves_updated_at(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        p = await llm.create_profile(tx, "u", "openai", "m")
    await asyncio.sleep(0.01)
    async with store_pool.transaction() as tx:
        assert await llm.update_last_used(tx, "u", now=T0) is True
        assert await llm.update_last_used(tx, "missing") is False
        q = await llm.get_profile(tx, "u")
    assert q is not None and q.last_used_at == T0 and q.updated_at > p.updated_at
    with pytest.raises(rawdb.ValidationError):
        async with store_pool.transaction() as tx:
            await llm.update_last_used(tx, "u", now=datetime(2024, 1, 1))  # naive


async def test_none_json_is_sql_null_and_legacy_null_reads_none_d19(
    store_pool: rawdb.Pool,
) -> None:
    async with store_pool.transaction() as tx:
        await llm.create_profile(tx, "n", "openai", "m", temperature=None)
        assert await tx.fetch_val(
            "SELECT COUNT(*) FROM llm_profiles WHERE temperature IS NULL AND seed IS NULL") == 1
        # a legacy row: the old ORM wrote JSON text 'null'
        await tx.execute("UPDATE llm_profiles SET temperature = 'null', provider_config = 'null'")
        p = await llm.get_profile(tx, "n")
    assert p is not None and p.temperature is None and p.provider_config is None


async def test_list_profiles_returns_structs_identical_to_get(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await llm.create_profile(tx, "x", "openai", "m", seed=7)
        [listed] = await llm.list_profiles(tx)
        got = await llm.get_profile(tx, "x")
    assert msgspec.structs.asdict(listed) == msgspec.structs.asdict(got)  # type: ignore[arg-type]


