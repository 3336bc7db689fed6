"""Encryption of stored secrets: the ``Cipher`` hook and a Fernet implementation.

The store never chooses a key. Operations that write or read a secret take a
``cipher=`` keyword: anything with ``encrypt(str) -> str`` and
``decrypt(str) -> str``. ``FernetCipher`` is the one rawdb ships: keys come from
configuration (never from the machine, as the old MAC-address derivation did),
every ciphertext names the key that made it, several keys can be configured so
that old ciphertexts stay readable while ``reencrypt_secrets`` moves them to
the newest key, and a failure is a ``DecryptionError``, never ``None``.

``cryptography`` is imported only when a ``FernetCipher`` is made, so rawdb
works without the ``rawdb[crypto]`` extra as long as no secret is touched.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec

from rawdb.errors import ConfigError, DecryptionError, ValidationError
from rawdb.store._common import Columns, QuerySet, check_unicode

if TYPE_CHECKING:
    from rawdb import Transaction

__all__ = [
    "Cipher",
    "FernetCipher",
    "ReencryptReport",
    "bind_profile_updates",
    "decrypt_secret",
    "encrypt_secret",
    "reencrypt_secrets",
]

KEY_ENV = "RAWDB_SECRET_KEYS"


@runtime_checkable
class Cipher(Protocol):
    """What the store needs from an encryption scheme."""

    def encrypt(self, plaintext: str) -> str: ...

    def decrypt(self, ciphertext: str) -> str: ...


def _fernet_module() -> Any:
    try:
        import cryptography.fernet as fernet
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ConfigError(
            "encrypting secrets needs the 'cryptography' package: pip install 'rawdb[crypto]'"
        ) from exc
    return fernet


def _key_id(key: bytes) -> str:
    """A short, non-secret fingerprint of a key (the first 8 hex digits of its SHA-256)."""
    return hashlib.sha256(key).hexdigest()[:8]


class FernetCipher:
    """Fernet (AES-128-CBC + HMAC-SHA256) with key rotation.

    Ciphertexts are ``"<key id>:<fernet token>"``; the key id says which
    configured key decrypts it, so a missing key is reported as such ("made with
    key 1a2b3c4d, which is not configured") instead of as a corrupt value. The
    first key encrypts; all keys decrypt. A bare Fernet token (no prefix) is
    tried against every key, so secrets encrypted elsewhere can be adopted.
    """

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if isinstance(keys, str | bytes) or not keys:
            raise ConfigError("FernetCipher needs a non-empty list of keys (newest first)")
        fernet = _fernet_module()
        self._invalid_token: type[Exception] = fernet.InvalidToken
        self._by_id: dict[str, Any] = {}
        self._ids: list[str] = []
        for key in keys:
            raw = key.encode() if isinstance(key, str) else key
            try:
                instance = fernet.Fernet(raw)
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    "an encryption key is not a valid Fernet key (32 url-safe base64 bytes)"
                ) from exc
            kid = _key_id(base64.urlsafe_b64decode(raw))
            self._by_id.setdefault(kid, instance)
            self._ids.append(kid)
        self._all = fernet.MultiFernet([self._by_id[kid] for kid in dict.fromkeys(self._ids)])

    @classmethod
    def from_env(cls, variable: str = KEY_ENV) -> FernetCipher:
        """Keys from an environment variable, comma-separated, newest first."""
        value = os.environ.get(variable, "")
        keys = [part.strip() for part in value.split(",") if part.strip()]
        if not keys:
            raise ConfigError(f"no encryption keys: set {variable} (comma-separated Fernet keys)")
        return cls(keys)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> FernetCipher:
        """Keys from a file, one per line, newest first; blank lines and ``#`` comments ignored."""
        with open(path, encoding="ascii") as handle:
            keys = [ln.strip() for ln in handle if ln.strip() and not ln.lstrip().startswith("#")]
        if not keys:
            raise ConfigError(f"no encryption keys in {os.fspath(path)}")
        return cls(keys)

    @staticmethod
    def generate_key() -> str:
        """A new random key, to be stored in the key file / keyring / environment."""
        key: bytes = _fernet_module().Fernet.generate_key()
        return key.decode("ascii")

    @property
    def primary_key_id(self) -> str:
        return self._ids[0]

    def key_id_of(self, ciphertext: str) -> str | None:
        """The key id a ciphertext names, or None for a bare token."""
        kid, sep, _ = ciphertext.partition(":")
        return kid if sep else None

    def encrypt(self, plaintext: str) -> str:
        token: bytes = self._by_id[self._ids[0]].encrypt(plaintext.encode("utf-8"))
        return f"{self._ids[0]}:{token.decode('ascii')}"

    def decrypt(self, ciphertext: str) -> str:
        kid, sep, token = ciphertext.partition(":")
        if sep:
            fernet = self._by_id.get(kid)
            if fernet is None:
                raise DecryptionError(
                    f"secret was encrypted with key {kid}, which is not configured"
                )
        else:
            fernet, token = self._all, ciphertext
        try:
            plain: bytes = fernet.decrypt(token.encode("ascii"))
        except (self._invalid_token, UnicodeEncodeError, ValueError) as exc:
            raise DecryptionError(
                "secret could not be decrypted: wrong key or corrupted value"
            ) from exc
        return plain.decode("utf-8")

    def needs_rotation(self, ciphertext: str) -> bool:
        """True unless the ciphertext is already under the primary (first) key."""
        return self.key_id_of(ciphertext) != self._ids[0]


# --- helpers the table modules use ----------------------------------------------------


def encrypt_secret(field: str, value: str | None, cipher: Cipher | None) -> str | None:
    """Ciphertext for a profile key; a blank key (None, "", whitespace) is stored as NULL."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field}: expected a string, got {type(value).__name__}")
    if not value.strip():
        return None
    check_unicode(field, value)  # the cipher would fail encoding it to UTF-8
    if cipher is None:
        raise ConfigError(f"storing {field} needs cipher= (see rawdb.store.crypto.FernetCipher)")
    return cipher.encrypt(value)


def decrypt_secret(ciphertext: str | None, cipher: Cipher) -> str | None:
    """Plain text of a stored secret; None only when nothing is stored.

    Whatever the injected cipher raises becomes a ``DecryptionError``: callers
    must be able to tell "wrong key" from "not configured".
    """
    if not ciphertext:
        return None
    try:
        return cipher.decrypt(ciphertext)
    except DecryptionError:
        raise
    except Exception as exc:
        raise DecryptionError(f"secret could not be decrypted: {exc}") from exc


def bind_profile_updates(
    columns: Columns, updates: Mapping[str, Any], allowed: tuple[str, ...], cipher: Cipher | None
) -> dict[str, Any]:
    """Bound SET parameters for a profile update whose allow-list includes ``api_key``.

    ``api_key`` becomes ``encrypted_api_key``: encrypted when non-blank, NULL
    (the stored key cleared) when blank. ``updates`` is only read. The ciphertext
    goes through ``columns``' converter for ``encrypted_api_key`` like every other
    SET value, so the type it is bound as is declared there.
    """
    values = columns.pick(updates, allowed)
    api_key_given = "api_key" in values
    api_key = values.pop("api_key", None)
    params = columns.bind(values)
    if api_key_given:
        params.update(columns.bind({"encrypted_api_key": encrypt_secret("api_key", api_key, cipher)}))
    return params


# --- rotation -------------------------------------------------------------------------


class _Secret(msgspec.Struct):
    id: str
    secret: str


class ReencryptReport(msgspec.Struct):
    """How many secrets per table ``reencrypt_secrets`` rewrote under the primary key."""

    llm_profiles: int = 0
    voice_profiles: int = 0
    credentials: int = 0

    @property
    def total(self) -> int:
        return self.llm_profiles + self.voice_profiles + self.credentials


_SECRET_TABLES = {
    table: QuerySet(table, ("list_secrets", "set_secret"))
    for table in ("llm_profiles", "voice_profiles", "credentials")
}


async def reencrypt_secrets(
    tx: Transaction, cipher: Cipher, *, force: bool = False
) -> ReencryptReport:
    """Re-encrypt every stored secret of the three secret columns with ``cipher``'s primary key.

    Run it in one transaction after putting the new key first in the key list
    (old keys still listed): on success every ciphertext is under the new key
    and the old ones can be dropped from configuration. Secrets already under
    the primary key are skipped unless ``force``. A secret no configured key can
    decrypt raises ``DecryptionError`` and the caller's rollback leaves all
    values as they were. Rewritten rows get a new ``updated_at`` (triggers).
    """
    needs = getattr(cipher, "needs_rotation", None)
    counts: dict[str, int] = {}
    for table, queries in _SECRET_TABLES.items():
        rows = await queries.fetch_all(tx, "list_secrets", {}, _Secret)
        done = 0
        for row in rows:
            if not force and needs is not None and not needs(row.secret):
                continue
            plain = decrypt_secret(row.secret, cipher)
            if plain is None:
                continue
            new = cipher.encrypt(plain)
            await queries.execute(tx, "set_secret", {"id": row.id, "secret": new})
            done += 1
        counts[table] = done
    return ReencryptReport(**counts)
