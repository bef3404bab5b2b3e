"""API keys: who may use the service, kept as SHA-256 hashes; a key's owner id names what it made.

Keys come from ``MM_REACTOR_API_KEYS`` (comma-separated, hashed as soon as they are read) and the
config's ``service.api_key_hashes`` (``sha256:<hex>``, made by ``reactor key``). With none,
``reactor serve --local`` makes one and keeps it in ``<data_dir>/api-key`` (mode 0600).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from orchestrator.errors import ConfigError

__all__ = [
    "API_KEYS_ENV",
    "KEY_FILE",
    "KeyRing",
    "hash_key",
    "local_key",
    "new_key",
]

API_KEYS_ENV = "MM_REACTOR_API_KEYS"
KEY_FILE = "api-key"
_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


def new_key() -> str:
    """A fresh random API key (256 bits)."""
    return "mmr_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(key.strip().encode()).hexdigest()


class KeyRing:
    """The accepted keys' hashes; :meth:`owner` maps a presented key to its owner id (or None)."""

    def __init__(self, hashes: list[str]) -> None:
        bad = [h for h in hashes if not _HASH.match(h)]
        if bad:
            raise ConfigError(
                f"service.api_key_hashes has {len(bad)} malformed entries: each is 'sha256:' and 64 hex "
                "digits (`reactor key` prints one for a new key)"
            )
        self.hashes = sorted(set(hashes))

    @classmethod
    def from_sources(cls, configured: list[str], env: str | None = None) -> KeyRing:
        """The config's hashes plus the keys in ``$MM_REACTOR_API_KEYS`` (hashed here)."""
        plain = os.environ.get(API_KEYS_ENV, "") if env is None else env
        return cls([*configured, *(hash_key(k) for k in plain.split(",") if k.strip())])

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def owner(self, presented: str | None) -> str | None:
        """The owner id of ``presented`` (the first 32 hex digits of its hash), or None if it is not ours."""
        if not presented:
            return None
        digest = hash_key(presented)
        found = None
        for known in self.hashes:  # every entry is compared: the time does not say which one matched
            if hmac.compare_digest(known, digest):
                found = known
        return found[len("sha256:") : len("sha256:") + 32] if found else None


def local_key(data_dir: Path) -> tuple[str, bool]:
    """The key in ``<data_dir>/api-key``, made (mode 0600) if there is none; and whether it is new."""
    path = data_dir / KEY_FILE
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise ConfigError(
                f"{path} can be read by other users (mode {oct(path.stat().st_mode & 0o777)}); "
                f"run `chmod 600 {path}` or delete it to get a new key"
            )
        key = path.read_text().strip()
        if key:
            return key, False
        path.unlink()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = new_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key, True
