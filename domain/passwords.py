"""Password hashes for the dashboard's logins: scrypt from the standard library, salted, self-describing.

A stored hash reads `scrypt$N$r$p$salt$key` (salt and key in base64), so the cost can be raised later
and old hashes still verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

SCHEME = "scrypt"
COST, BLOCK_SIZE, PARALLELISM = 2**14, 8, 1
KEY_LENGTH = 32
MIN_LENGTH = 10


class WeakPassword(ValueError):
    """The reason, in a key of the `web` texts, why a new password is refused."""


def check_strength(password: str, username: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword("web.password_too_short")
    if password.casefold() == username.casefold() or len(set(password)) < 4:
        raise WeakPassword("web.password_too_simple")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    key = _derive(password, salt, COST, BLOCK_SIZE, PARALLELISM)
    return "$".join((SCHEME, str(COST), str(BLOCK_SIZE), str(PARALLELISM), _b64(salt), _b64(key)))


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; False for a wrong password or a malformed hash."""
    try:
        scheme, cost, block_size, parallelism, salt, key = stored.split("$")
        if scheme != SCHEME:
            return False
        expected = base64.b64decode(key)
        actual = _derive(password, base64.b64decode(salt), int(cost), int(block_size), int(parallelism))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _derive(password: str, salt: bytes, cost: int, block_size: int, parallelism: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=cost, r=block_size, p=parallelism, dklen=KEY_LENGTH, maxmem=64 * 1024 * 1024
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
