"""Named secrets: 4 operations.

Unlike the old module these never swallow errors: ``None``/``False``
mean "absent" and nothing else; a ciphertext the configured keys cannot open
raises ``DecryptionError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from rawdb.errors import ValidationError
from rawdb.store._common import Columns, QuerySet, check_unicode, new_id, text
from rawdb.store.crypto import Cipher, decrypt_secret

if TYPE_CHECKING:
    from rawdb import Transaction

__all__ = ["delete_credential", "get_credential", "list_credential_names", "store_credential"]

_Q = QuerySet(
    "credentials",
    ("get_encrypted_value", "upsert_credential", "delete_credential", "list_credential_names"),
)

_COLUMNS = Columns(
    "credentials",
    {"id": text(), "key_name": text(), "description": text(nullable=True)},
)


class _Name(msgspec.Struct):
    key_name: str


async def get_credential(tx: Transaction, key_name: str, *, cipher: Cipher) -> str | None:
    """The decrypted value, or None when the key is absent or holds no value."""
    ciphertext = await _Q.fetch_val(tx, "get_encrypted_value", {"key_name": key_name})
    return decrypt_secret(ciphertext, cipher)


async def store_credential(
    tx: Transaction,
    key_name: str,
    value: str,
    description: str | None = None,
    *,
    cipher: Cipher,
) -> bool:
    """Insert or replace a secret in one atomic statement; always True, errors raise.

    ``description=None`` keeps the stored description. A blank ``value``
    is rejected: remove a credential with ``delete_credential``. On
    MariaDB, concurrent first writes of one key can in principle meet an InnoDB
    deadlock (two unique indexes); it surfaces as ``DeadlockError``.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("value: a credential needs a non-blank string")
    check_unicode("value", value)  # the cipher would fail encoding it to UTF-8
    params = _COLUMNS.bind({"id": new_id(), "key_name": key_name, "description": description})
    params["encrypted_value"] = cipher.encrypt(value)
    await _Q.execute(tx, "upsert_credential", params)
    return True


async def delete_credential(tx: Transaction, key_name: str) -> bool:
    return await _Q.execute(tx, "delete_credential", {"key_name": key_name}) > 0


async def list_credential_names(tx: Transaction) -> list[str]:
    """Key names, oldest first (ties by name)."""
    rows = await _Q.fetch_all(tx, "list_credential_names", {}, _Name)
    return [row.key_name for row in rows]
