"""Checksums of migration scripts that survive a checkout on another OS.

A script's checksum is recorded when it is applied and compared on every later
run (drift detection). Git may rewrite line endings and editors may add or drop
a UTF-8 byte order mark without anyone changing the SQL, so both are normalised
away before hashing: such a change must never block a deployment.
"""

from __future__ import annotations

import hashlib

BOM = "\ufeff"


def normalize(text: str) -> str:
    """The text every dialect runs and every checksum hashes: no BOM, ``\\n`` line ends."""
    if text.startswith(BOM):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


def checksum(text: str | bytes) -> str:
    """SHA-256 (hex) of the normalised script text. Bytes are decoded as UTF-8 first."""
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig")
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()
