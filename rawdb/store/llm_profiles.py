"""LLM profiles: 9 operations plus ``count_profiles``.

At most one profile is the default. The operations keep it so by clearing the
other defaults in the same transaction, before setting the new one (the v009
unique index would reject the reverse order), inside a savepoint that is undone
when the target turns out not to exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rawdb.store._common import (
    Columns,
    QuerySet,
    boolean,
    execute_sql,
    json_value,
    new_id,
    page,
    resolve_now,
    text,
    unless_no_row,
)
from rawdb.store.crypto import Cipher, bind_profile_updates, decrypt_secret, encrypt_secret
from rawdb.store.models import LLMProfile, LLMProfileWithKey

if TYPE_CHECKING:
    from rawdb import Transaction

__all__ = [
    "count_profiles",
    "create_profile",
    "delete_profile",
    "get_default_profile",
    "get_profile",
    "get_profile_with_decrypted_key",
    "list_profiles",
    "set_default_profile",
    "update_last_used",
    "update_profile",
]

_Q = QuerySet(
    "llm_profiles",
    (
        "insert_profile", "get_profile", "list_profiles", "count_profiles", "delete_profile",
        "get_default_profile", "get_default_flag", "clear_other_defaults", "set_default",
        "update_last_used",
    ),
)

_COLUMNS = Columns(
    "llm_profiles",
    {
        "profile_id": text(),
        "profile_name": text(),
        "provider": text(),
        "model": text(),
        "base_url": text(nullable=True),
        "encrypted_api_key": text(nullable=True),
        "temperature": json_value(float),
        "max_tokens": json_value(int),
        "top_p": json_value(float),
        "frequency_penalty": json_value(float),
        "seed": json_value(int),
        "provider_config": json_value(dict[str, Any]),
        "description": text(nullable=True),
        "is_active": boolean,
        "is_default": boolean,
    },
)

UPDATABLE: tuple[str, ...] = (
    "provider", "model", "api_key", "base_url", "temperature", "max_tokens", "top_p",
    "frequency_penalty", "seed", "provider_config", "description", "is_active", "is_default",
)
"""Keys ``update_profile`` accepts: what the old API sent. Renaming is not among them
(tasks refer to profiles by name)."""


async def create_profile(
    tx: Transaction,
    profile_name: str,
    provider: str,
    model: str,
    api_key: str | None = None,
    base_url: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    top_p: float | None = None,
    frequency_penalty: float | None = None,
    seed: int | None = None,
    provider_config: dict[str, Any] | None = None,
    description: str | None = None,
    is_default: bool = False,
    *,
    cipher: Cipher | None = None,
) -> LLMProfile:
    """Insert a profile and return it as stored; a duplicate name raises ``UniqueViolation``.

    ``cipher`` is needed only when ``api_key`` is non-blank; a blank key is NULL.
    With ``is_default`` every other default is cleared in the same savepoint.
    """
    params = _COLUMNS.bind(
        {
            "profile_id": new_id(),
            "profile_name": profile_name,
            "provider": provider,
            "model": model,
            "base_url": base_url,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "top_p": top_p,
            "frequency_penalty": frequency_penalty,
            "seed": seed,
            "provider_config": {} if provider_config is None else provider_config,
            "description": description,
            "is_default": is_default,
        }
    )
    params["encrypted_api_key"] = encrypt_secret("api_key", api_key, cipher)
    if is_default:
        async with tx.transaction() as savepoint:  # a duplicate name undoes the clearing
            await _Q.execute(savepoint, "clear_other_defaults", {"profile_name": profile_name})
            await _Q.execute(savepoint, "insert_profile", params)
    else:
        await _Q.execute(tx, "insert_profile", params)
    row = await get_profile(tx, profile_name)
    assert row is not None, "a profile inserted in this transaction must be readable"
    return row


async def get_profile(tx: Transaction, profile_name: str) -> LLMProfile | None:
    """The profile with exactly this name (case-sensitive on every dialect), active or not."""
    return await _Q.fetch_one(tx, "get_profile", {"profile_name": profile_name}, LLMProfile)


async def get_profile_with_decrypted_key(
    tx: Transaction, profile_name: str, *, cipher: Cipher
) -> LLMProfileWithKey | None:
    """The profile and its plain API key (None when none is stored).

    A key the cipher cannot decrypt raises ``DecryptionError``.
    """
    profile = await get_profile(tx, profile_name)
    if profile is None:
        return None
    return LLMProfileWithKey(profile, decrypt_secret(profile.encrypted_api_key, cipher))


async def list_profiles(
    tx: Transaction, active_only: bool = True, limit: int | None = 50, offset: int = 0
) -> list[LLMProfile]:
    """Most recently used first, never-used last; ``limit`` None or -1 = all."""
    limit, offset = page(limit, offset)
    return await _Q.fetch_all(
        tx, "list_profiles", {"include_inactive": not active_only}, LLMProfile,
        limit=limit, offset=offset,
    )


async def count_profiles(tx: Transaction, active_only: bool = True) -> int:
    """Number of (active) profiles, counted in SQL: ``len(list_profiles())`` stops at 50."""
    count = await _Q.fetch_val(tx, "count_profiles", {"include_inactive": not active_only})
    return int(count or 0)


async def update_profile(
    tx: Transaction, profile_name: str, updates: dict[str, Any], *, cipher: Cipher | None = None
) -> bool:
    """Apply allow-listed ``updates``; False when no profile has this name.

    ``api_key``: a non-blank value is encrypted, a blank one clears the stored
    key. ``is_default: True`` clears the other defaults in the same savepoint.
    ``updates`` itself is never modified; an unknown key raises ``ValidationError``
    before any SQL. ``updated_at`` moves even for an empty dict (database trigger).
    """
    params = bind_profile_updates(_COLUMNS, updates, UPDATABLE, cipher)
    sql = _COLUMNS.update_sql("profile_name", params)
    params["profile_name"] = profile_name

    if params.get("is_default") is True:
        async def update_as_default(s: Transaction) -> int:
            await _Q.execute(s, "clear_other_defaults", {"profile_name": profile_name})
            return await execute_sql(s, sql, params)

        return await unless_no_row(tx, update_as_default) > 0
    return await execute_sql(tx, sql, params) > 0


async def delete_profile(tx: Transaction, profile_name: str) -> bool:
    """Hard delete. Tasks naming the profile are left alone (no foreign key)."""
    return await _Q.execute(tx, "delete_profile", {"profile_name": profile_name}) > 0


async def get_default_profile(tx: Transaction) -> LLMProfile | None:
    """The default profile; with several legacy defaults, the most recently updated one."""
    return await _Q.fetch_one(tx, "get_default_profile", {}, LLMProfile)


async def set_default_profile(tx: Transaction, profile_name: str) -> bool:
    """Make ``profile_name`` the only default; False (and nothing changed) if it does not exist.

    Only rows whose flag actually changes are updated, so unrelated profiles
    keep their ``updated_at``.
    """
    key = {"profile_name": profile_name}
    current = await _Q.fetch_val(tx, "get_default_flag", key)
    if current is None:
        return False
    if current:  # already the default: only legacy extra defaults can need clearing
        await _Q.execute(tx, "clear_other_defaults", key)
        return True

    async def switch(s: Transaction) -> int:
        await _Q.execute(s, "clear_other_defaults", key)
        return await _Q.execute(s, "set_default", key)

    return await unless_no_row(tx, switch) > 0


async def update_last_used(
    tx: Transaction, profile_name: str, *, now: datetime | None = None
) -> bool:
    """Stamp ``last_used_at`` with ``now`` (application clock); ``updated_at`` moves too."""
    params = {"profile_name": profile_name, "now": resolve_now(now)}
    return await _Q.execute(tx, "update_last_used", params) > 0
