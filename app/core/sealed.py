"""Opaque tokens for values the browser must carry but may neither read nor change (Graph page
links, upload-session URLs): compressed, encrypted and signed with a key derived from
SECRET_KEY, bound to one purpose, with an age limit. Stateless, so any worker can open them."""

import base64
import json
import zlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


@lru_cache(maxsize=4)
def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"crm sealed values v1")
    return Fernet(base64.urlsafe_b64encode(key.derive(secret.encode())))


def seal(purpose: str, payload: dict) -> str:
    """An opaque, URL-safe token carrying `payload` for `purpose`."""
    plain = json.dumps({"p": purpose, "v": payload}, separators=(",", ":")).encode()
    return _fernet(current_app.config["SECRET_KEY"]).encrypt(zlib.compress(plain)).decode()


def unseal(purpose: str, token: str, max_age: int) -> dict | None:
    """The payload of a token sealed for `purpose` at most `max_age` seconds ago, else None."""
    try:
        raw = _fernet(current_app.config["SECRET_KEY"]).decrypt(token.encode(), ttl=max_age)
        opened = json.loads(zlib.decompress(raw))
    except (InvalidToken, ValueError, zlib.error, UnicodeError):
        return None
    if not isinstance(opened, dict) or opened.get("p") != purpose:
        return None
    value = opened.get("v")
    return value if isinstance(value, dict) else None
