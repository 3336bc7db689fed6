"""rawdb.store.crypto: Fernet with key ids, rotation across the three secret columns (E1)."""

from __future__ import annotations

import pytest

import rawdb
from rawdb import store
from rawdb.store.crypto import Cipher, FernetCipher, reencrypt_secrets

K1, K2 = FernetCipher.generate_key(), FernetCipher.generate_key()


def test_round_trip_and_wrong_key() -> None:
    one = FernetCipher([K1])
    token = one.encrypt("sk-Ünïcødé 🔑")
    assert token.startswith(one.primary_key_id + ":")
    # A whole ASCII secret (a short piece like "sk-" can occur in random base64 by chance).
    assert "sk-live-4f9Qa7Zt2" not in one.encrypt("sk-live-4f9Qa7Zt2")
    assert one.decrypt(token) == "sk-Ünïcødé 🔑"
    assert isinstance(one, Cipher)
    with pytest.raises(rawdb.DecryptionError, match="not configured"):
        FernetCipher([K2]).decrypt(token)
    for bad in ("garbage", one.primary_key_id + ":garbage", "", "é:é"):
        with pytest.raises(rawdb.DecryptionError):
            one.decrypt(bad)


def test_rotation_keeps_old_tokens_readable() -> None:
    old = FernetCipher([K1]).encrypt("v")
    rotated = FernetCipher([K2, K1])
    assert rotated.decrypt(old) == "v"
    assert rotated.needs_rotation(old) and not rotated.needs_rotation(rotated.encrypt("v"))
    # a bare Fernet token (no key id) is tried against every key
    bare = old.partition(":")[2]
    assert rotated.decrypt(bare) == "v"


def test_bad_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(rawdb.ConfigError):
        FernetCipher([])
    with pytest.raises(rawdb.ConfigError):
        FernetCipher(["not a key"])
    with pytest.raises(rawdb.ConfigError):
        FernetCipher(K1)  # type: ignore[arg-type]  # a str, not a list
    monkeypatch.delenv("RAWDB_SECRET_KEYS", raising=False)
    with pytest.raises(rawdb.ConfigError, match="RAWDB_SECRET_KEYS"):
        FernetCipher.from_env()
    monkeypatch.setenv("RAWDB_SECRET_KEYS", f"{K2}, {K1}")
    assert FernetCipher.from_env().decrypt(FernetCipher([K1]).encrypt("x")) == "x"
    keyfile = tmp_path / "keys"
    keyfile.write_text(f"# newest first\n{K2}\n\n{K1}\n")
    assert FernetCipher.from_file(keyfile).primary_key_id == FernetCipher([K2]).primary_key_id


def test_missing_extras_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_extras(name: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name.startswith(("cryptography", "croniter")):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_extras)
    with pytest.raises(rawdb.ConfigError, match=r"rawdb\[crypto\]"):
        FernetCipher([K1])
    from datetime import UTC, datetime

    from rawdb.store._cron import next_fire_time
    with pytest.raises(rawdb.ConfigError, match=r"rawdb\[cron\]"):
        next_fire_time("0 9 * * *", datetime.now(UTC), UTC)


class Boom:
    def encrypt(self, plaintext: str) -> str:
        return "x" + plaintext

    def decrypt(self, ciphertext: str) -> str:
        raise RuntimeError("hsm offline")


async def test_foreign_cipher_failure_becomes_decryption_error(store_pool: rawdb.Pool) -> None:
    async with store_pool.transaction() as tx:
        await store.credentials.store_credential(tx, "k", "v", cipher=Boom())
        with pytest.raises(rawdb.DecryptionError, match="hsm offline"):
            await store.credentials.get_credential(tx, "k", cipher=Boom())


async def test_reencrypt_all_three_columns_e1(store_pool: rawdb.Pool) -> None:
    k1 = FernetCipher([K1])
    async with store_pool.transaction() as tx:
        await store.llm_profiles.create_profile(tx, "l", "openai", "m", api_key="lk", cipher=k1)
        await store.llm_profiles.create_profile(tx, "l0", "openai", "m")  # no key: untouched
        await store.voice_profiles.create_profile(tx, "v", "asr", "m", api_key="vk", cipher=k1)
        await store.credentials.store_credential(tx, "c", "cv", cipher=k1)
    rotated = FernetCipher([K2, K1])
    async with store_pool.transaction() as tx:
        report = await reencrypt_secrets(tx, rotated)
    assert (report.llm_profiles, report.voice_profiles, report.credentials, report.total) == (
        1, 1, 1, 3)
    k2 = FernetCipher([K2])  # the old key is gone from configuration now
    async with store_pool.transaction() as tx:
        assert (await store.llm_profiles.get_profile_with_decrypted_key(
            tx, "l", cipher=k2)).api_key == "lk"  # type: ignore[union-attr]
        assert (await store.voice_profiles.get_profile_with_decrypted_key(
            tx, "v", cipher=k2)).api_key == "vk"  # type: ignore[union-attr]
        assert await store.credentials.get_credential(tx, "c", cipher=k2) == "cv"
        again = await reencrypt_secrets(tx, rotated)
        assert again.total == 0  # already under the primary key
        assert (await reencrypt_secrets(tx, rotated, force=True)).total == 3
    # a secret no key opens: the error propagates and the caller's rollback keeps everything
    async with store_pool.transaction() as tx:
        await store.credentials.store_credential(tx, "lost", "x", cipher=FernetCipher([K1]))
    with pytest.raises(rawdb.DecryptionError):
        async with store_pool.transaction() as tx:
            await reencrypt_secrets(tx, FernetCipher([FernetCipher.generate_key(), K2]))
    async with store_pool.transaction() as tx:
        assert await store.credentials.get_credential(tx, "c", cipher=k2) == "cv"
