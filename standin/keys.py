"""The signing key (RSA, generated per process), its JWKS, and RS256 JWT signing."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


class SigningKey:
    """An RSA key pair with a key id, able to publish a JWKS and sign JWTs."""

    def __init__(self) -> None:
        self._private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self._private.public_key().public_numbers()
        self.n = b64url(_int_bytes(numbers.n))
        self.e = b64url(_int_bytes(numbers.e))
        thumbprint = json.dumps({"e": self.e, "kty": "RSA", "n": self.n}, separators=(",", ":"))
        self.kid = b64url(hashlib.sha256(thumbprint.encode()).digest())[:27]

    def jwks(self) -> dict:
        """Return the public key set as served at ``discovery/v2.0/keys``."""
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.kid,
                    "n": self.n,
                    "e": self.e,
                }
            ]
        }

    def sign(self, claims: dict) -> str:
        """Return a compact RS256 JWT of the claims with this key's ``kid`` in the header."""
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = self._private.sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{b64url(signature)}"


_KEY: SigningKey | None = None


def signing_key() -> SigningKey:
    """Return the process-wide signing key, generating it on first use."""
    global _KEY
    if _KEY is None:
        _KEY = SigningKey()
    return _KEY
