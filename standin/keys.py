"""The signing keys (RSA, generated per process, rolled over on request), their JWKS, and RS256
JWT signing."""

from __future__ import annotations

import base64
import hashlib
import json
import threading

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


class KeyRing:
    """The keys the JWKS publishes: the one that signs first, then the one it replaced. Like
    Microsoft's, a rollover lists the new key beside the retired one for a while, so tokens
    signed just before it still verify."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys = [SigningKey()]

    def current(self) -> SigningKey:
        """The key that signs from now on."""
        return self._keys[0]

    def jwks(self) -> dict:
        """Every published key, as served at ``discovery/v2.0/keys``."""
        return {"keys": [entry for key in list(self._keys) for entry in key.jwks()["keys"]]}

    def rotate(self) -> tuple[str, str]:
        """Roll over: a new key signs, the previous one stays published, any older one goes.
        Returns (new kid, retired kid)."""
        fresh = SigningKey()
        with self._lock:
            retired = self._keys[0]
            self._keys = [fresh, retired]
        return fresh.kid, retired.kid

    def forget_retired(self) -> None:
        """Publish only the signing key again (on reset)."""
        with self._lock:
            self._keys = self._keys[:1]


_RING: KeyRing | None = None
_RING_LOCK = threading.Lock()


def key_ring() -> KeyRing:
    """Return the process-wide key ring, generating its first key on first use."""
    global _RING
    with _RING_LOCK:
        if _RING is None:
            _RING = KeyRing()
        return _RING


def signing_key() -> SigningKey:
    """Return the key that signs tokens now."""
    return key_ring().current()
