"""Voice (speech recognition / synthesis) profiles: 7 operations."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rawdb.store._common import (
    Columns,
    QuerySet,
    boolean,
    choice,
    execute_sql,
    json_value,
    new_id,
    one_of,
    page,
    resolve_now,
    text,
)
from rawdb.store.crypto import Cipher, bind_profile_updates, decrypt_secret, encrypt_secret
from rawdb.store.models import VoiceModelType, VoiceProfile, VoiceProfileWithKey

if TYPE_CHECKING:
    from rawdb import Transaction

__all__ = [
    "create_profile",
    "delete_profile",
    "get_profile",
    "get_profile_with_decrypted_key",
    "list_profiles",
    "update_last_used",
    "update_profile",
]

_Q = QuerySet(
    "voice_profiles",
    ("insert_profile", "get_profile", "list_profiles", "delete_profile", "update_last_used"),
)

_COLUMNS = Columns(
    "voice_profiles",
    {
        "profile_id": text(),
        "voice_profile_name": text(),
        "voice_model_type": choice(VoiceModelType),
        "voice_model_name": text(),
        "encrypted_api_key": text(nullable=True),
        "voice_meta_params": json_value(dict[str, Any]),
        "description": text(nullable=True),
        "is_active": boolean,
    },
)

UPDATABLE: tuple[str, ...] = (
    "voice_model_type", "voice_model_name", "api_key", "voice_meta_params", "description",
    "is_active",
)


async def create_profile(
    tx: Transaction,
    voice_profile_name: str,
    voice_model_type: str,
    voice_model_name: str,
    api_key: str | None = None,
    voice_meta_params: dict[str, Any] | None = None,
    description: str | None = None,
    *,
    cipher: Cipher | None = None,
) -> VoiceProfile:
    """Insert a profile; ``voice_model_type`` is ``asr`` or ``tts``; a blank key is NULL."""
    params = _COLUMNS.bind(
        {
            "profile_id": new_id(),
            "voice_profile_name": voice_profile_name,
            "voice_model_type": voice_model_type,
            "voice_model_name": voice_model_name,
            "voice_meta_params": {} if voice_meta_params is None else voice_meta_params,
            "description": description,
        }
    )
    params["encrypted_api_key"] = encrypt_secret("api_key", api_key, cipher)
    await _Q.execute(tx, "insert_profile", params)
    row = await get_profile(tx, voice_profile_name)
    assert row is not None, "a profile inserted in this transaction must be readable"
    return row


async def get_profile(tx: Transaction, voice_profile_name: str) -> VoiceProfile | None:
    return await _Q.fetch_one(
        tx, "get_profile", {"voice_profile_name": voice_profile_name}, VoiceProfile
    )


async def get_profile_with_decrypted_key(
    tx: Transaction, voice_profile_name: str, *, cipher: Cipher
) -> VoiceProfileWithKey | None:
    """The profile and its plain API key; an undecryptable key raises ``DecryptionError``."""
    profile = await get_profile(tx, voice_profile_name)
    if profile is None:
        return None
    return VoiceProfileWithKey(profile, decrypt_secret(profile.encrypted_api_key, cipher))


async def list_profiles(
    tx: Transaction,
    voice_model_type: str | None = None,
    active_only: bool = True,
    limit: int | None = 50,
    offset: int = 0,
) -> list[VoiceProfile]:
    """Most recently used first; ``voice_model_type`` None or ``""`` = every type."""
    limit, offset = page(limit, offset)
    any_type = not voice_model_type
    params = {
        "include_inactive": not active_only,
        "any_type": any_type,
        "voice_model_type": (
            None if any_type else one_of("voice_model_type", voice_model_type, VoiceModelType)
        ),
    }
    return await _Q.fetch_all(
        tx, "list_profiles", params, VoiceProfile, limit=limit, offset=offset
    )


async def update_profile(
    tx: Transaction,
    voice_profile_name: str,
    updates: dict[str, Any],
    *,
    cipher: Cipher | None = None,
) -> bool:
    """Apply allow-listed ``updates`` (never modified); ``api_key`` as in LLM profiles."""
    params = bind_profile_updates(_COLUMNS, updates, UPDATABLE, cipher)
    sql = _COLUMNS.update_sql("voice_profile_name", params)
    return await execute_sql(tx, sql, {**params, "voice_profile_name": voice_profile_name}) > 0


async def delete_profile(tx: Transaction, voice_profile_name: str) -> bool:
    return await _Q.execute(tx, "delete_profile", {"voice_profile_name": voice_profile_name}) > 0


async def update_last_used(
    tx: Transaction, voice_profile_name: str, *, now: datetime | None = None
) -> bool:
    """Stamp ``last_used_at`` with ``now`` (application clock)."""
    params = {"voice_profile_name": voice_profile_name, "now": resolve_now(now)}
    return await _Q.execute(tx, "update_last_used", params) > 0
