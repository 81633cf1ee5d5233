"""Client API keys: stored as SHA-256 hashes, compared in constant time.

A gateway key is a random token (``simkit gateway hash-key`` makes one and prints its hash),
so one SHA-256 is enough to keep the stored form useless to a reader of the config file, as
API-key stores do; a slow password hash would sit on every request. The comparison runs over
every configured hash with :func:`hmac.compare_digest`, so its time does not depend on which
key matched or how much of it did.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from simkit.errors import SpecError

__all__ = ["KeyChecker", "hash_api_key", "new_api_key", "parse_key_hash"]

_PREFIX = "sha256:"


def hash_api_key(key: str) -> str:
    """The form a key is stored in: ``'sha256:<64 hex digits>'``."""
    return _PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    """A new random client key (``sk-simkit-`` and 43 URL-safe characters, 256 bits)."""
    return "sk-simkit-" + secrets.token_urlsafe(32)


def parse_key_hash(value: object, key: str, source: str) -> bytes:
    """The digest in a ``'sha256:<hex>'`` string; a :class:`SpecError` naming ``key`` otherwise.

    A value that is not a hash (a plain key pasted into the config) is refused without
    echoing it.
    """
    ok = isinstance(value, str) and value.startswith(_PREFIX)
    digest = b""
    if ok:
        try:
            digest = bytes.fromhex(value[len(_PREFIX) :])
        except ValueError:
            ok = False
    if not ok or len(digest) != 32:
        raise SpecError(
            source,
            key=key,
            problem="expected 'sha256:' and 64 hex digits (the value is not shown)",
            hint="store the key's hash, never the key: simkit gateway hash-key",
        )
    return digest


class KeyChecker:
    """Accepts a request whose ``Authorization: Bearer <key>`` hashes to a configured digest.

    Parameters
    ----------
    digests : sequence of bytes
        SHA-256 digests of the accepted keys.
    """

    def __init__(self, digests: tuple[bytes, ...]) -> None:
        self.digests = digests

    def check(self, authorization: str | None) -> bool:
        """True if the header carries an accepted key (constant time over the digests)."""
        if not authorization or not authorization[:7].lower() == "bearer ":
            return False
        digest = hashlib.sha256(authorization[7:].strip().encode("utf-8")).digest()
        found = False
        for d in self.digests:
            found |= hmac.compare_digest(digest, d)
        return found
