"""Development secrets kept once in the instance folder."""

import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

_GENERATORS = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "TOKEN_ENCRYPTION_KEYS": lambda: Fernet.generate_key().decode(),
}


def load_or_create_secret(instance_path: str, name: str) -> str:
    """Read instance/<name>, creating it (mode 0600) the first time."""
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name.lower()
    if path.exists():
        return path.read_text().strip()
    value = _GENERATORS[name]()
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value


def require_in_production(name: str) -> None:
    """Stop the process with a one-line message naming the missing variable."""
    sys.exit(f"{name} must be set in the environment when APP_ENV=production.")
