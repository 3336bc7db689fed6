"""Secrets the old system encrypted under a MAC-derived key: read them, move them to the configured key.

``old_encrypt`` makes ciphertext exactly as the old application did (PBKDF2-HMAC-SHA256
of the machine id with its fixed salt and 100 000 rounds, Fernet, then one more
URL-safe base64 layer), written here with cryptography's own KDF so that rawdb's
hashlib derivation is checked against an independent one.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import traceback
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from store_helpers import StoreDatabase, set_column, table_rows

import rawdb
from rawdb import store
from rawdb.cli import main
from rawdb.store import legacy_crypto
from rawdb.store.crypto import FernetCipher
from rawdb.store.legacy_crypto import LegacyCipher, LegacyImportReport, reencrypt_legacy

OLD_MAC = "3c:22:fb:5e:91:0a"  # as getmac returned it: lower case, colons
OTHER_MAC = "3c:22:fb:5e:91:0b"
USER_ID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"  # a UUIDv7, as the old code wrote it
NEW_KEY = FernetCipher.generate_key()
SECRETS = {
    "llm": "sk-llm-Q7vX2mR9pL4tZ8wK",
    "voice": "voice-key-H3nB6cY1dF5gJ0sA",
    "cred": "composio-7TqW4eR8uI2oP6aS ünï",
}


def old_encrypt(machine_id: str, secret: str) -> str:
    """The old ``encrypt_api_key`` with the old ``derive_key``, for a given machine id."""
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=b"vibesurf_warmshao_2025", iterations=100000)
    key = base64.urlsafe_b64encode(kdf.derive(machine_id.encode("utf-8")))
    token = Fernet(key).encrypt(secret.encode("utf-8"))
    return base64.urlsafe_b64encode(token).decode("utf-8")


# --------------------------------------------------------------------------- the cipher


def test_every_old_machine_id_variant_is_a_candidate(tmp_path: Path) -> None:
    workspace = tmp_path / "vibesurf_workspace"
    (workspace / "telemetry").mkdir(parents=True)
    (workspace / "telemetry" / "userid").write_text(USER_ID, encoding="utf-8")
    legacy = LegacyCipher.discover(macs=["3C-22-FB-5E-91-0A"], workspace=workspace)
    assert legacy.candidates == (
        f"MAC {OLD_MAC}",
        f"MAC {OLD_MAC} (upper case, no separators)",
        "workspace user id",
        "fixed id 'vibesurf_userid'",
        "fixed id 'VIBESURF_WARMSHAO'",
    )
    cases = {
        OLD_MAC: f"MAC {OLD_MAC}",  # getmac versions
        "3C22FB5E910A": f"MAC {OLD_MAC} (upper case, no separators)",  # psutil version
        USER_ID: "workspace user id",  # no MAC found
        "vibesurf_userid": "fixed id 'vibesurf_userid'",  # user id file unwritable
        "VIBESURF_WARMSHAO": "fixed id 'VIBESURF_WARMSHAO'",  # psutil version, no MAC
    }
    for machine_id, label in cases.items():
        ciphertext = old_encrypt(machine_id, SECRETS["llm"])
        assert ciphertext.startswith("Z0FBQUFB") and LegacyCipher.is_legacy(ciphertext)
        assert legacy.decrypt_labelled(ciphertext) == (SECRETS["llm"], label)
    # the user id is key material: it never shows, the MAC (not a secret) does
    assert USER_ID not in repr(legacy) and OLD_MAC in repr(legacy)


def test_user_id_sources_and_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ciphertext = old_encrypt(USER_ID, SECRETS["cred"])
    # the default workspace: $VIBESURF_WORKSPACE, read verbatim
    (tmp_path / "telemetry").mkdir()
    (tmp_path / "telemetry" / "userid").write_text(USER_ID, encoding="utf-8")
    monkeypatch.setenv("VIBESURF_WORKSPACE", str(tmp_path))
    assert LegacyCipher.discover(macs=[], fallbacks=False).decrypt(ciphertext) == SECRETS["cred"]
    # an id pasted with a trailing newline still opens it
    assert LegacyCipher(user_ids=[USER_ID + "\n"], fallbacks=False).decrypt(ciphertext) == SECRETS["cred"]
    assert LegacyCipher.discover(macs=[], user_id=USER_ID).decrypt(ciphertext) == SECRETS["cred"]
    with pytest.raises(rawdb.ConfigError, match="no user id file"):
        LegacyCipher.discover(macs=[], workspace=tmp_path / "elsewhere")
    with pytest.raises(rawdb.ConfigError, match="not a MAC address"):
        LegacyCipher(macs=["3c:22:fb:5e:91"])
    with pytest.raises(rawdb.ConfigError):
        LegacyCipher(fallbacks=False)
    with pytest.raises(rawdb.DecryptionError, match="no candidate key"):
        LegacyCipher(macs=[OTHER_MAC], fallbacks=False).decrypt(ciphertext)
    with pytest.raises(rawdb.DecryptionError, match="not in the old format"):
        LegacyCipher(macs=[OLD_MAC]).decrypt("plain text")


def test_only_the_old_shape_counts_as_legacy() -> None:
    new = FernetCipher([NEW_KEY])
    current = new.encrypt("x")
    assert not LegacyCipher.is_legacy(current)  # "<key id>:<token>"
    assert not LegacyCipher.is_legacy(current.partition(":")[2])  # a bare Fernet token
    assert not LegacyCipher.is_legacy("")
    assert not LegacyCipher.is_legacy("sk-plain-text-key")
    assert LegacyCipher.is_legacy(old_encrypt(OLD_MAC, "x") + "\n")


def test_machine_macs_are_well_formed() -> None:
    for mac in legacy_crypto.machine_macs():
        assert len(mac) == 17 and mac == mac.lower() and mac != "00:00:00:00:00:00"


# --------------------------------------------------------------------------- the import


async def _old_rows(pool: rawdb.Pool) -> dict[str, str]:
    """Rows as the old system left them: three legacy secrets, a keyless profile, a blank credential.

    Returns the id of each row holding a secret.
    """
    async with pool.transaction() as tx:
        llm = await store.llm_profiles.create_profile(tx, "gpt", "openai", "gpt-4o", description="d")
        await store.llm_profiles.create_profile(tx, "no-key", "openai", "gpt-4o")
        voice = await store.voice_profiles.create_profile(tx, "asr", "asr", "whisper")
        await store.credentials.store_credential(tx, "COMPOSIO_API_KEY", "placeholder", cipher=FernetCipher([NEW_KEY]))
        await store.credentials.store_credential(tx, "EMPTY_SECRET", "placeholder", cipher=FernetCipher([NEW_KEY]))
        cred_id = await tx.fetch_val("SELECT id FROM credentials WHERE key_name = 'COMPOSIO_API_KEY'")
    await set_column(pool, "llm_profiles", "encrypted_api_key", old_encrypt(OLD_MAC, SECRETS["llm"]),
                     "profile_id = :id", {"id": llm.profile_id})
    # written on a day the MAC lookup failed: keyed on the workspace user id
    await set_column(pool, "voice_profiles", "encrypted_api_key", old_encrypt(USER_ID, SECRETS["voice"]),
                     "profile_id = :id", {"id": voice.profile_id})
    await set_column(pool, "credentials", "encrypted_value", old_encrypt(OLD_MAC, SECRETS["cred"]),
                     "id = :id", {"id": cred_id})
    await set_column(pool, "credentials", "encrypted_value", "", "key_name = 'EMPTY_SECRET'")
    return {"llm_profiles": llm.profile_id, "voice_profiles": voice.profile_id, "credentials": cred_id}


async def _snapshot(pool: rawdb.Pool) -> dict[str, list[tuple[Any, ...]]]:
    return {t: await table_rows(pool, t) for t in ("llm_profiles", "voice_profiles", "credentials")}


async def _columns(pool: rawdb.Pool, table: str) -> list[str]:
    async with pool.transaction() as tx:
        row = await tx.fetch_one(f"SELECT * FROM {table}")
    assert row is not None
    return list(row.keys())


async def _without(pool: rawdb.Pool, snapshot: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The snapshot minus the secret column and updated_at (which a rewrite moves, by trigger)."""
    secret = {"llm_profiles": "encrypted_api_key", "voice_profiles": "encrypted_api_key",
              "credentials": "encrypted_value"}
    out = {}
    for table, rows in snapshot.items():
        names = await _columns(pool, table)
        keep = [i for i, name in enumerate(names) if name not in (secret[table], "updated_at")]
        out[table] = [tuple(row[i] for i in keep) for row in rows]
    return out


def _legacy() -> LegacyCipher:
    return LegacyCipher(macs=[OLD_MAC], user_ids=[USER_ID], fallbacks=False)


async def test_import_moves_all_three_columns_to_the_configured_key(store_pool: rawdb.Pool) -> None:
    await _old_rows(store_pool)
    before = await _snapshot(store_pool)
    cipher = FernetCipher([NEW_KEY])

    async with store_pool.transaction() as tx:
        dry = await reencrypt_legacy(tx, legacy=_legacy(), cipher=cipher, dry_run=True)
    assert (dry.llm_profiles, dry.voice_profiles, dry.credentials, dry.total) == (1, 1, 1, 3)
    assert dry.dry_run and dry.blank == 1
    assert await _snapshot(store_pool) == before  # a dry run writes nothing

    async with store_pool.transaction() as tx:
        report = await reencrypt_legacy(tx, legacy=_legacy(), cipher=cipher)
    assert (report.llm_profiles, report.voice_profiles, report.credentials) == (1, 1, 1)
    assert (report.already_current, report.blank, report.dry_run) == (0, 1, False)
    assert report.keys_used == {f"MAC {OLD_MAC}": 2, "workspace user id": 1}

    async with store_pool.transaction() as tx:
        llm = await store.llm_profiles.get_profile_with_decrypted_key(tx, "gpt", cipher=cipher)
        voice = await store.voice_profiles.get_profile_with_decrypted_key(tx, "asr", cipher=cipher)
        assert llm is not None and llm.api_key == SECRETS["llm"]
        assert voice is not None and voice.api_key == SECRETS["voice"]
        assert await store.credentials.get_credential(tx, "COMPOSIO_API_KEY", cipher=cipher) == SECRETS["cred"]
        assert await store.credentials.get_credential(tx, "EMPTY_SECRET", cipher=cipher) is None
        stored = await tx.fetch_val("SELECT encrypted_api_key FROM llm_profiles WHERE profile_name = 'gpt'")
        assert stored.startswith(cipher.primary_key_id + ":")
    after = await _snapshot(store_pool)
    assert await _without(store_pool, after) == await _without(store_pool, before)  # nothing else moved

    async with store_pool.transaction() as tx:
        again = await reencrypt_legacy(tx, legacy=_legacy(), cipher=cipher)
    assert again.total == 0 and again.already_current == 3 and again.blank == 1
    assert await _snapshot(store_pool) == after  # not even updated_at


async def test_a_wrong_mac_changes_nothing(store_pool: rawdb.Pool, caplog: pytest.LogCaptureFixture) -> None:
    ids = await _old_rows(store_pool)
    before = await _snapshot(store_pool)
    cipher = FernetCipher([NEW_KEY])
    caplog.set_level(logging.DEBUG)
    for wrong in (LegacyCipher(macs=[OTHER_MAC], fallbacks=False),
                  # opens the llm row but not the voice one (user id): the llm row is not written either
                  LegacyCipher(macs=[OLD_MAC], fallbacks=False)):
        # even a caller that swallows the error and commits finds every row as it was
        async with store_pool.transaction() as tx:
            with pytest.raises(rawdb.DecryptionError) as info:
                await reencrypt_legacy(tx, legacy=wrong, cipher=cipher)
        message = str(info.value)
        table = "llm_profiles" if wrong.candidates[0].endswith(OTHER_MAC) else "voice_profiles"
        assert message.startswith(f"{table} row {ids[table]}: no candidate key opens")
        assert "nothing was changed" in message
        assert await _snapshot(store_pool) == before
        _assert_no_secret(message, "".join(traceback.format_exception(info.value)), repr(info.value), repr(wrong))
    _assert_no_secret(caplog.text)


async def test_a_current_value_the_key_cannot_open_is_an_error(store_pool: rawdb.Pool) -> None:
    await _old_rows(store_pool)
    async with store_pool.transaction() as tx:
        await store.credentials.store_credential(
            tx, "OTHER", "x-secret", cipher=FernetCipher([FernetCipher.generate_key()]))
    before = await _snapshot(store_pool)
    with pytest.raises(rawdb.DecryptionError, match="neither in the old format nor readable"):
        async with store_pool.transaction() as tx:
            await reencrypt_legacy(tx, legacy=_legacy(), cipher=FernetCipher([NEW_KEY]))
    assert await _snapshot(store_pool) == before


async def test_a_row_changed_meanwhile_is_not_overwritten(
    store_pool: rawdb.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await _old_rows(store_pool)
    queries = legacy_crypto._TABLES["credentials"]
    read = queries.fetch_all
    newer = old_encrypt(OLD_MAC, "written-by-someone-else")

    async def read_then_someone_writes(tx: rawdb.Transaction, *args: Any, **kwargs: Any) -> Any:
        rows = await read(tx, *args, **kwargs)
        await tx.execute("UPDATE credentials SET encrypted_value = :v WHERE id = :id",
                         {"v": newer, "id": ids["credentials"]})
        return rows

    monkeypatch.setattr(queries, "fetch_all", read_then_someone_writes)
    with pytest.raises(rawdb.SerializationError, match=f"credentials row {ids['credentials']} changed"):
        async with store_pool.transaction() as tx:
            await reencrypt_legacy(tx, legacy=_legacy(), cipher=FernetCipher([NEW_KEY]))


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS.values():
            assert secret not in text
        assert USER_ID not in text


# --------------------------------------------------------------------------- the command


def _url(db: StoreDatabase) -> str:
    if db.options:  # the PostgreSQL test schema is chosen by a pool option no URL can carry
        pytest.skip("the command takes a URL; this backend's test schema needs pool options")
    return db.url


async def test_command_dry_run_then_import(
    store_database: StoreDatabase, store_pool: rawdb.Pool, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    url = _url(store_database)
    await _old_rows(store_pool)
    before = await _snapshot(store_pool)
    workspace = tmp_path / "ws"
    (workspace / "telemetry").mkdir(parents=True)
    (workspace / "telemetry" / "userid").write_text(USER_ID, encoding="utf-8")
    monkeypatch.setenv("RAWDB_SECRET_KEYS", NEW_KEY)
    base = ["reencrypt", "--from-legacy", "--url", url, "--mac", OLD_MAC, "--legacy-workspace", str(workspace)]

    code, out, err = await _run_cli(capsys, *base, "--dry-run")
    assert code == 0, err
    assert "dry run: would re-encrypt 3 legacy secret(s)" in out
    assert "llm_profiles 1, voice_profiles 1, credentials 1" in out
    assert await _snapshot(store_pool) == before

    # the wrong machine: exit 1, a readable message naming the row, nothing written
    code, out, err = await _run_cli(capsys, "reencrypt", "--from-legacy", "--url", url, "--mac", OTHER_MAC,
                                    "--legacy-user-id", "not-the-id", "--no-fallbacks")
    assert code == 1 and err.startswith("rawdb reencrypt: error: llm_profiles row ") and "Traceback" not in err
    _assert_no_secret(out, err)
    assert await _snapshot(store_pool) == before

    key_file = tmp_path / "keys"
    key_file.write_text(f"# newest first\n{NEW_KEY}\n", encoding="ascii")
    monkeypatch.delenv("RAWDB_SECRET_KEYS")
    code, out, err = await _run_cli(capsys, *base, "--key-file", str(key_file))
    assert code == 0, err
    assert f"re-encrypted 3 legacy secret(s) with key {FernetCipher([NEW_KEY]).primary_key_id}" in out
    _assert_no_secret(out, err)
    async with store_pool.transaction() as tx:
        cred = await store.credentials.get_credential(tx, "COMPOSIO_API_KEY", cipher=FernetCipher([NEW_KEY]))
    assert cred == SECRETS["cred"]

    code, out, _ = await _run_cli(capsys, *base, "--key-file", str(key_file))
    assert code == 0 and "nothing to re-encrypt" in out


async def test_command_needs_a_key(
    store_database: StoreDatabase, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _url(store_database)
    monkeypatch.delenv("RAWDB_SECRET_KEYS", raising=False)
    code, _, err = await _run_cli(capsys, "reencrypt", "--from-legacy", "--url", url, "--mac", OLD_MAC)
    assert code == 1 and "RAWDB_SECRET_KEYS" in err


async def test_command_without_from_legacy_rotates(
    store_database: StoreDatabase, store_pool: rawdb.Pool,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    url = _url(store_database)
    old_key = FernetCipher.generate_key()
    async with store_pool.transaction() as tx:
        await store.credentials.store_credential(tx, "K", SECRETS["cred"], cipher=FernetCipher([old_key]))
    monkeypatch.setenv("RAWDB_SECRET_KEYS", f"{NEW_KEY},{old_key}")
    code, out, err = await _run_cli(capsys, "reencrypt", "--url", url, "--mac", OLD_MAC)
    assert code == 1 and "need --from-legacy" in err
    before = await _snapshot(store_pool)
    code, out, err = await _run_cli(capsys, "reencrypt", "--url", url, "--dry-run")
    assert code == 0 and "dry run: would re-encrypt 1 secret(s)" in out, err
    assert await _snapshot(store_pool) == before  # rolled back
    code, out, _ = await _run_cli(capsys, "reencrypt", "--url", url)
    assert code == 0 and "re-encrypted 1 secret(s) with key" in out
    async with store_pool.transaction() as tx:
        assert await store.credentials.get_credential(tx, "K", cipher=FernetCipher([NEW_KEY])) == SECRETS["cred"]
    code, out, _ = await _run_cli(capsys, "reencrypt", "--url", url)
    assert code == 0 and "nothing to re-encrypt" in out
    _assert_no_secret(out)


async def _run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``main`` runs its own event loop: call it from a worker thread."""
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_is_plain_data() -> None:
    report = LegacyImportReport(llm_profiles=2, credentials=1, keys_used={"MAC x": 3})
    assert report.total == 3 and not report.dry_run
