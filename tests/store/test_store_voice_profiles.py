"""voice_profiles: its 7 operations (encryption as in LLM profiles)."""

from __future__ import annotations

import asyncio

import pytest
from store_helpers import T0, set_column, table_rows

import rawdb
from rawdb import store
from rawdb.store.crypto import FernetCipher
from rawdb.store.models import VoiceProfile

voice = store.voice_profiles


async def test_create_get_and_key(store_pool: rawdb.Pool, cipher: FernetCipher) -> None:
    async with store_pool.transaction() as tx:
        p = await voice.create_profile(tx, "asr1", "asr", "whisper", api_key="voice-key-secret",
                                       voice_meta_params={"asr_model_name": "w", "n": [1]},
                                       description="d", cipher=cipher)
        assert isinstance(p, VoiceProfile)
        assert (p.voice_profile_name, p.voice_model_type, p.voice_model_name, p.description,
                p.is_active, p.last_used_at) == ("asr1", "asr", "whisper", "d", True, None)
        assert p.voice_meta_params == {"asr_model_name": "w", "n": [1]}
        assert p.encrypted_api_key and "voice-key-secret" not in p.encrypted_api_key
        assert await voice.get_profile(tx, "asr1") == p
        assert await voice.get_profile(tx, "ASR1") is None
        got = await voice.get_profile_with_decrypted_key(tx, "asr1", cipher=cipher)
        assert got is not None and got.api_key == "voice-key-secret" and got.profile == p
        assert await voice.get_profile_with_decrypted_key(tx, "nope", cipher=cipher) is None
        q = await voice.create_profile(tx, "tts1", "tts", "m", api_key="  ")
        assert q.encrypted_api_key is None and q.voice_meta_params == {}
        assert (await voice.get_profile_with_decrypted_key(tx, "tts1", cipher=cipher)).api_key is None  # type: ignore[union-attr]
        with pytest.raises(rawdb.DecryptionError):
            await voice.get_profile_with_decrypted_key(
                tx, "asr1", cipher=FernetCipher([FernetCipher.generate_key()]))


async def test_bad_type_and_duplicate(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await voice.create_profile(tx, "v", "asr", "m")
    before = await table_rows(store_pool, "voice_profiles")
    for kind in ("ASR", "stt", ""):
        with pytest.raises(rawdb.ValidationError, match="voice_model_type"):
            async with store_pool.transaction() as tx:
                await voice.create_profile(tx, "w", kind, "m")
    with pytest.raises(rawdb.UniqueViolation):
        async with store_pool.transaction() as tx:
            await voice.create_profile(tx, "v", "tts", "m")
    assert await table_rows(store_pool, "voice_profiles") == before


async def test_list_profiles(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        for name, kind in (("a", "asr"), ("b", "tts"), ("c", "asr"), ("d", "tts")):
            await voice.create_profile(tx, name, kind, "m")
        await voice.update_profile(tx, "d", {"is_active": False})
        await voice.update_last_used(tx, "c", now=T0)
    await set_column(store_pool, "voice_profiles", "created_at", T0)
    async with store_pool.transaction() as tx:
        names = lambda rows: [r.voice_profile_name for r in rows]  # noqa: E731
        everything = await voice.list_profiles(tx)
        assert names(everything)[0] == "c" and sorted(names(everything)) == ["a", "b", "c"]
        assert names(everything[1:]) == [p.voice_profile_name for p in
                                         sorted(everything[1:], key=lambda p: p.profile_id)]
        assert names(await voice.list_profiles(tx, "asr")) == ["c", "a"]
        assert names(await voice.list_profiles(tx, "")) == names(everything)
        assert names(await voice.list_profiles(tx, "tts", active_only=False))[0] in ("b", "d")
        assert len(await voice.list_profiles(tx, "tts", active_only=False)) == 2
        assert len(await voice.list_profiles(tx, active_only=False, limit=2, offset=3)) == 1
        assert len(await voice.list_profiles(tx, limit=-1)) == 3
        with pytest.raises(rawdb.ValidationError, match="voice_model_type"):
            await voice.list_profiles(tx, "bogus")


async def test_update_delete_last_used(store_pool: rawdb.Pool, cipher: FernetCipher) -> None:
    async with store_pool.transaction() as tx:
        p = await voice.create_profile(tx, "v", "asr", "m", api_key="k1", cipher=cipher)
    await asyncio.sleep(0.01)
    updates = {"voice_model_type": "tts", "api_key": "k2", "voice_meta_params": None}
    async with store_pool.transaction() as tx:
        assert await voice.update_profile(tx, "v", updates, cipher=cipher) is True
        assert updates == {"voice_model_type": "tts", "api_key": "k2", "voice_meta_params": None}
        got = await voice.get_profile_with_decrypted_key(tx, "v", cipher=cipher)
        assert got is not None and got.api_key == "k2" and got.profile.voice_model_type == "tts"
        assert got.profile.voice_meta_params is None and got.profile.updated_at > p.updated_at
        assert await voice.update_profile(tx, "v", {"api_key": None}) is True
        assert (await voice.get_profile(tx, "v")).encrypted_api_key is None  # type: ignore[union-attr]
        for bad in ({"voice_model_type": "xyz"}, {"voice_profile_name": "w"}, {"profile_id": "1"}):
            with pytest.raises(rawdb.ValidationError):
                await voice.update_profile(tx, "v", bad)
        assert await voice.update_profile(tx, "nope", {"description": "x"}) is False
        assert await voice.update_last_used(tx, "v", now=T0) is True
        assert (await voice.get_profile(tx, "v")).last_used_at == T0  # type: ignore[union-attr]
        assert await voice.update_last_used(tx, "nope") is False
        assert await voice.delete_profile(tx, "v") is True
        assert await voice.delete_profile(tx, "v") is False
