"""One-time import of secrets the old system encrypted with a machine-derived key.

The old application (VibeSurf, ``vibe_surf/backend/utils/encryption.py``) stored
every API key and credential as::

    urlsafe_b64encode( Fernet(K).encrypt(utf8(secret)) )        # text

with ``K = urlsafe_b64encode(PBKDF2-HMAC-SHA256(password=utf8(machine_id),
salt=b"vibesurf_warmshao_2025", iterations=100_000, length=32))``: a Fernet
token wrapped in one more layer of URL-safe base64, so a stored value starts
with ``Z0FBQUFB`` (the base64 of a token's own ``gAAAAA``). Its versions chose
``machine_id`` differently, and an old database may hold values from any of them:

* getmac's ``get_mac_address()``: the MAC of the interface holding the default
  route, lower case with colons (``aa:bb:cc:dd:ee:ff``);
* when that found nothing, the workspace user id: the text of
  ``$VIBESURF_WORKSPACE/telemetry/userid`` (default workspace
  ``./vibesurf_workspace``), read verbatim, created as a fresh UUIDv7 when
  missing; when the file could not be read or written, the constant
  ``vibesurf_userid``. Decryption tried the MAC key first, then this one;
* an earlier version took the first MAC of the interfaces ``en0``, ``eth0``,
  ``en1`` (then any other physical one) through psutil, upper case without
  separators (``AABBCCDDEEFF``), and the constant ``VIBESURF_WARMSHAO`` when no
  MAC was found.

So the key is only as stable as the network card: a new NIC, another default
interface, a container's MAC or a restored backup on another host made every
stored secret unreadable. ``LegacyCipher`` rebuilds the candidate keys from
those inputs, given explicitly (the old machine's MAC, its workspace or user
id) or found on this machine, and only decrypts; ``reencrypt_legacy`` moves
every legacy value of the three secret columns to the configured cipher.
After that the MAC and the user id play no part any more.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from rawdb.errors import ConfigError, DecryptionError, SerializationError
from rawdb.store._common import QuerySet
from rawdb.store.crypto import Cipher, _fernet_module, decrypt_secret

if TYPE_CHECKING:
    from rawdb import Transaction

__all__ = [
    "LegacyCipher",
    "LegacyImportReport",
    "machine_macs",
    "read_workspace_user_id",
    "reencrypt_legacy",
]

logger = logging.getLogger(__name__)

SALT = b"vibesurf_warmshao_2025"
ITERATIONS = 100_000
OLD_INTERFACES = ("en0", "eth0", "en1")
"""The interface names the psutil-based version looked at first, in its order."""
FALLBACK_IDS = ("vibesurf_userid", "VIBESURF_WARMSHAO")
"""Fixed machine ids the old code used when it found neither a user id file nor a MAC."""
WORKSPACE_ENV = "VIBESURF_WORKSPACE"
DEFAULT_WORKSPACE = "./vibesurf_workspace"
USER_ID_FILE = ("telemetry", "userid")

# The outer layer is URL-safe base64 of a Fernet token; a token starts with its
# version byte 0x80 and a 64-bit timestamp whose high bytes are zero, i.e. "gAAAA".
_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_HEX12 = re.compile(r"[0-9a-f]{12}")


# --- candidate keys ---------------------------------------------------------------------


class _Candidate:
    """One machine id the old code may have used; the id itself never shows in a repr."""

    __slots__ = ("_fernet", "label", "password")

    def __init__(self, label: str, password: str) -> None:
        self.label = label
        self.password = password
        self._fernet: Any = None

    def fernet(self) -> Any:
        # PBKDF2 with 100 000 rounds costs tens of milliseconds: derive once, on first use.
        if self._fernet is None:
            raw = hashlib.pbkdf2_hmac("sha256", self.password.encode("utf-8"), SALT, ITERATIONS, dklen=32)
            self._fernet = _fernet_module().Fernet(base64.urlsafe_b64encode(raw))
        return self._fernet

    def __repr__(self) -> str:
        return f"<legacy key candidate: {self.label}>"


def _normalise_mac(mac: str) -> str:
    """``aa:bb:cc:dd:ee:ff`` from any usual spelling (colons, dashes, dots, none; any case)."""
    digits = re.sub(r"[\s:.-]", "", mac).lower()
    if not _HEX12.fullmatch(digits):
        raise ConfigError(f"not a MAC address: {mac!r} (expected six hex pairs, e.g. aa:bb:cc:dd:ee:ff)")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def machine_macs() -> list[str]:
    """This machine's MAC addresses, in the order the old code would have used them.

    The interface holding the default route first (what getmac returned, read
    from ``/proc/net/route`` and ``/sys/class/net`` on Linux), then the old
    fixed interface names, then ``uuid.getnode()`` (on other systems the only
    source). Addresses that are all zero, and the random number ``getnode``
    makes up when it finds no MAC, are left out.
    """
    names: list[str] = []
    default = _default_route_interface()
    if default:
        names.append(default)
    names.extend(OLD_INTERFACES)
    found: list[str] = []
    for name in names:
        try:
            text = Path("/sys/class/net", name, "address").read_text(encoding="ascii").strip()
            found.append(_normalise_mac(text))
        except (OSError, ValueError, ConfigError):
            continue
    node = uuid.getnode()
    if not node & (1 << 40):  # the multicast bit marks getnode's random fallback
        found.append(_normalise_mac(f"{node:012x}"))
    return [mac for mac in dict.fromkeys(found) if mac != "00:00:00:00:00:00"]


def _default_route_interface() -> str | None:
    try:
        with open("/proc/net/route", encoding="ascii") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) > 1 and fields[1] == "00000000":
                    return fields[0]
    except OSError:
        pass
    return None


def read_workspace_user_id(workspace: str | os.PathLike[str] | None = None) -> str | None:
    """The old workspace user id, or None when the file does not exist.

    ``workspace`` defaults to ``$VIBESURF_WORKSPACE``, else ``./vibesurf_workspace``
    (where the old code looked). The text is returned exactly as stored: the old
    code used it without stripping.
    """
    folder = Path(workspace) if workspace is not None else Path(os.environ.get(WORKSPACE_ENV, DEFAULT_WORKSPACE))
    path = folder.joinpath(*USER_ID_FILE)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the old workspace user id from {path}: {exc}") from exc


class LegacyCipher:
    """Decrypts (never encrypts) the old system's secrets by trying each candidate key.

    Candidates, in the order the old code tried them: each MAC address given (as
    getmac spelt it, then as the psutil version did), then each user id, then
    the old fixed fallback ids unless ``fallbacks=False``. Use
    ``LegacyCipher.discover()`` to take them from this machine and the old
    workspace; pass them explicitly to read a database restored on another host.
    """

    def __init__(self, *, macs: Iterable[str] = (), user_ids: Iterable[str] = (), fallbacks: bool = True) -> None:
        candidates: list[_Candidate] = []
        for mac in dict.fromkeys(_normalise_mac(m) for m in macs):
            candidates.append(_Candidate(f"MAC {mac}", mac))
            candidates.append(_Candidate(f"MAC {mac} (upper case, no separators)", mac.replace(":", "").upper()))
        for n, user_id in enumerate(dict.fromkeys(user_ids), start=1):
            if not user_id:
                raise ConfigError("a legacy user id is empty")
            label = "workspace user id" if n == 1 else f"workspace user id #{n}"
            candidates.append(_Candidate(label, user_id))
            # A hand-copied id may have gained or lost a trailing newline.
            if user_id.strip() and user_id.strip() != user_id:
                candidates.append(_Candidate(f"{label} (stripped)", user_id.strip()))
        if fallbacks:
            candidates.extend(_Candidate(f"fixed id {fixed!r}", fixed) for fixed in FALLBACK_IDS)
        if not candidates:
            raise ConfigError("LegacyCipher needs at least one MAC address, user id or the fixed fallbacks")
        self._candidates = tuple(candidates)

    @classmethod
    def discover(
        cls,
        *,
        macs: Sequence[str] | None = None,
        user_id: str | None = None,
        workspace: str | os.PathLike[str] | None = None,
        fallbacks: bool = True,
    ) -> LegacyCipher:
        """Candidates from explicit inputs, else from this machine.

        ``macs=None`` takes ``machine_macs()``. ``user_id`` wins over
        ``workspace``; a ``workspace`` given must hold ``telemetry/userid``;
        with neither, the default workspace's file is used if it exists.
        """
        found_macs = machine_macs() if macs is None else list(macs)
        user_ids: list[str] = []
        if user_id is not None:
            user_ids.append(user_id)
        elif workspace is not None:
            text = read_workspace_user_id(workspace)
            if text is None:
                raise ConfigError(f"no user id file in {Path(workspace).joinpath(*USER_ID_FILE)}")
            user_ids.append(text)
        else:
            text = read_workspace_user_id()
            if text:
                user_ids.append(text)
        return cls(macs=found_macs, user_ids=user_ids, fallbacks=fallbacks)

    @property
    def candidates(self) -> tuple[str, ...]:
        """Labels of the candidate keys in trial order (MACs shown, user ids not)."""
        return tuple(c.label for c in self._candidates)

    @staticmethod
    def is_legacy(value: str) -> bool:
        """True if ``value`` has the old format (a base64-wrapped Fernet token)."""
        return _unwrap(value) is not None

    def decrypt(self, ciphertext: str) -> str:
        return self.decrypt_labelled(ciphertext)[0]

    def decrypt_labelled(self, ciphertext: str) -> tuple[str, str]:
        """The plain text and the label of the candidate key that opened it."""
        inner = _unwrap(ciphertext)
        if inner is None:
            raise DecryptionError("value is not in the old format (a base64-wrapped Fernet token)")
        invalid = _fernet_module().InvalidToken
        for candidate in self._candidates:
            try:
                plain: bytes = candidate.fernet().decrypt(inner)
            except invalid:
                continue
            try:
                return plain.decode("utf-8"), candidate.label
            except UnicodeDecodeError:
                raise DecryptionError("legacy secret decrypted to bytes that are not UTF-8") from None
        raise DecryptionError(
            f"no candidate key opens this legacy secret (tried {len(self._candidates)}: "
            f"{', '.join(self.candidates)})"
        )

    def __repr__(self) -> str:
        return f"LegacyCipher({len(self._candidates)} candidate keys: {', '.join(self.candidates)})"


def _unwrap(value: str) -> bytes | None:
    """The inner Fernet token of an old-format value, or None if it has another shape."""
    text = value.strip()
    if not _B64URL.fullmatch(text):
        return None
    try:
        inner = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, ValueError):
        return None
    return inner if inner.startswith(b"gAAAA") else None


# --- the import ---------------------------------------------------------------------------


class LegacyImportReport(msgspec.Struct, kw_only=True):
    """What ``reencrypt_legacy`` did (or, with ``dry_run``, would do).

    Per table: values moved from the old format to the configured cipher.
    ``already_current``: values the configured cipher already opens, left alone.
    ``blank``: empty values (the old code stored ``""`` for a blank credential),
    left alone. ``keys_used``: how many values each candidate key opened.
    """

    llm_profiles: int = 0
    voice_profiles: int = 0
    credentials: int = 0
    already_current: int = 0
    blank: int = 0
    keys_used: dict[str, int] = msgspec.field(default_factory=dict)
    dry_run: bool = False

    @property
    def total(self) -> int:
        return self.llm_profiles + self.voice_profiles + self.credentials


class _Secret(msgspec.Struct):
    id: str
    secret: str


_TABLES = {
    table: QuerySet(table, ("list_secrets", "set_secret_if_unchanged"))
    for table in ("llm_profiles", "voice_profiles", "credentials")
}


async def reencrypt_legacy(
    tx: Transaction, *, legacy: LegacyCipher, cipher: Cipher, dry_run: bool = False
) -> LegacyImportReport:
    """Re-encrypt every old-format secret of the three secret columns with ``cipher``.

    Every stored value is read and classified first, and nothing is written
    until all of them are accounted for: an old-format value no candidate key
    opens, or any other value the configured cipher cannot open, raises
    ``DecryptionError`` naming the table and row (never the secret) with no
    row changed. Values the cipher already opens and empty values are left
    alone, so a second run changes nothing. Each rewrite checks that the row
    still holds the value read; a concurrent change raises
    ``SerializationError`` and the caller's rollback undoes the rewrites
    already made. Rewritten rows get a new ``updated_at`` (triggers), like any
    update. ``dry_run`` does all the decrypting and writes nothing.
    """
    counts = dict.fromkeys(_TABLES, 0)
    keys_used: dict[str, int] = {}
    already_current = blank = 0
    plan: list[tuple[str, _Secret, str]] = []
    for table, queries in _TABLES.items():
        for row in await queries.fetch_all(tx, "list_secrets", {}, _Secret):
            if not row.secret.strip():
                blank += 1
                continue
            if legacy.is_legacy(row.secret):
                try:
                    plain, label = legacy.decrypt_labelled(row.secret)
                except DecryptionError as exc:
                    raise DecryptionError(f"{table} row {row.id}: {exc}; nothing was changed") from None
                keys_used[label] = keys_used.get(label, 0) + 1
                counts[table] += 1
                if not dry_run:
                    plan.append((table, row, cipher.encrypt(plain)))
                continue
            try:
                decrypt_secret(row.secret, cipher)
            except DecryptionError:
                raise DecryptionError(
                    f"{table} row {row.id}: the stored secret is neither in the old format nor "
                    "readable with the configured keys; nothing was changed"
                ) from None
            already_current += 1
    for table, row, new in plan:
        params = {"id": row.id, "secret": new, "old_secret": row.secret}
        if await _TABLES[table].execute(tx, "set_secret_if_unchanged", params) != 1:
            raise SerializationError(
                f"{table} row {row.id} changed while its secret was being re-encrypted; "
                "roll back and run the import again"
            )
    report = LegacyImportReport(
        **counts, already_current=already_current, blank=blank, keys_used=keys_used, dry_run=dry_run
    )
    logger.info(
        "legacy secrets %s: llm_profiles=%d voice_profiles=%d credentials=%d "
        "(already current %d, blank %d)",
        "found (dry run)" if dry_run else "re-encrypted",
        report.llm_profiles, report.voice_profiles, report.credentials, already_current, blank,
    )
    return report
