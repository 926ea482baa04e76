"""Re-encrypt every stored secret with the first key of TOKEN_ENCRYPTION_KEYS, so an old key
can then be removed. Each area registers its encrypted columns here."""

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from app.extensions import db
from app.models import Connector, Credential, OAuthFlow
from app.services import crypto

ENCRYPTED_COLUMNS: list[tuple[type, tuple[str, ...]]] = []


def register_encrypted(model: type, *columns: str) -> None:
    """Declare columns holding crypto.encrypt() output, so key rotation covers them."""
    if (model, columns) not in ENCRYPTED_COLUMNS:
        ENCRYPTED_COLUMNS.append((model, columns))


register_encrypted(Connector, "client_secret_encrypted")
register_encrypted(Credential, "access_token_encrypted", "refresh_token_encrypted")
register_encrypted(OAuthFlow, "code_verifier_encrypted", "pending_result_encrypted")


@dataclass
class RotationReport:
    """How many values were re-encrypted, and which records could not be read."""

    rotated: int = 0
    failures: list[str] = field(default_factory=list)


def count_rows() -> int:
    """Rows to visit, for a progress bar."""
    return sum(db.session.query(model).count() for model, _ in ENCRYPTED_COLUMNS)


def rotate_all(batch_size: int = 500, progress: Callable[[int], None] | None = None):
    """Re-encrypt every registered column, batch by batch; a row that no key decrypts is
    reported by name and left as it is, and the run goes on."""
    report = RotationReport()
    for model, columns in ENCRYPTED_COLUMNS:
        _rotate_model(model, columns, batch_size, report, progress)
    return report


def _rotate_model(model, columns, batch_size, report, progress) -> None:
    key = model.__mapper__.primary_key[0]
    last = None
    while True:
        statement = select(model).order_by(key).limit(batch_size)
        if last is not None:
            statement = statement.where(key > last)
        rows = db.session.scalars(statement).all()
        if not rows:
            return
        for row in rows:
            _rotate_row(model, row, columns, report)
        last = getattr(rows[-1], key.name)
        db.session.commit()
        if progress:
            progress(len(rows))


def _rotate_row(model, row, columns, report) -> None:
    for column in columns:
        value = getattr(row, column)
        if not value:
            continue
        try:
            setattr(row, column, crypto.rotate(value))
            report.rotated += 1
        except crypto.DecryptionError:
            ident = getattr(row, model.__mapper__.primary_key[0].name)
            report.failures.append(
                f"{model.__tablename__} id={ident} {column}: no configured "
                "key decrypts it (unknown key or corrupt value)"
            )
