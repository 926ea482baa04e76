"""Encryption at rest for tokens and the client secret (MultiFernet over TOKEN_ENCRYPTION_KEYS)."""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key."""


@lru_cache(maxsize=8)
def _fernet(keys: str) -> MultiFernet:
    parts = [k.strip() for k in keys.split(",") if k.strip()]
    if not parts:
        raise RuntimeError("TOKEN_ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(k) for k in parts])
    except ValueError as error:
        raise RuntimeError(
            "TOKEN_ENCRYPTION_KEYS must be comma-separated Fernet keys (32 url-safe base64 bytes)."
        ) from error


def _current() -> MultiFernet:
    return _fernet(current_app.config["TOKEN_ENCRYPTION_KEYS"])


def encrypt(plaintext: str) -> str:
    """Encrypt with the first key; empty stays empty."""
    if not plaintext:
        return ""
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    """Decrypt with any configured key; raises DecryptionError when none fits."""
    if not ciphertext:
        return ""
    try:
        return _current().decrypt(ciphertext.encode()).decode()
    except InvalidToken as error:
        raise DecryptionError(
            "A stored secret could not be decrypted with the configured keys."
        ) from error


def rotate(ciphertext: str) -> str:
    """Re-encrypt a value with the first key."""
    if not ciphertext:
        return ""
    try:
        return _current().rotate(ciphertext.encode()).decode()
    except InvalidToken as error:
        raise DecryptionError(
            "A stored secret could not be decrypted with the configured keys."
        ) from error
