"""Password hashing (argon2id) and API tokens (random, stored only as a SHA-256 hash).

Passwords are low-entropy secrets, so they get a slow, memory-hard hash (argon2id, argon2-cffi's RFC 9106
low-memory profile by default). API tokens are 256-bit random strings: a fast SHA-256 hash is enough to make
the stored value useless to a thief, and it lets the decision API look a token up by its hash in one query.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "rrl_"
MIN_PASSWORD_LENGTH = 8


def make_hasher(fast: bool = False) -> PasswordHasher:
    """An argon2id hasher.

    :param fast: use tiny cost parameters (for tests only: hashes stay valid argon2id and verify anywhere).
    """
    if fast:
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return PasswordHasher()


def check_password_strength(password: str) -> None:
    """Raise ``ValueError`` unless ``password`` is a string of at least ``MIN_PASSWORD_LENGTH`` characters."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password: expected at least {MIN_PASSWORD_LENGTH} characters")


def hash_password(hasher: PasswordHasher, password: str) -> str:
    """The argon2id hash of ``password`` (salted; the parameters are encoded in the result)."""
    check_password_strength(password)
    return hasher.hash(password)


def verify_password(hasher: PasswordHasher, stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; never raises for a wrong password or a malformed hash."""
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A fresh API token: ``rrl_`` + 43 url-safe characters (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest stored in place of an API token."""
    if not isinstance(token, str) or not token:
        raise ValueError("token: expected a non-empty string")
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
