"""Re-encrypt every stored secret with the first key of TOKEN_ENCRYPTION_KEYS, so an old key
can then be removed. Each area registers its encrypted columns in its `init_app`, so rotation
covers all of them in any process that built the app."""

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, current_app
from sqlalchemy import func, select, update

from app.core import crypto
from app.extensions import db


def register_encrypted(app: Flask, model: type, *columns: str) -> None:
    """Declare columns holding crypto.encrypt() output, so key rotation covers them."""
    registered = app.extensions.setdefault("encrypted_columns", [])
    if (model, columns) not in registered:
        registered.append((model, columns))


def encrypted_columns() -> list[tuple[type, tuple[str, ...]]]:
    """Every (model, columns) the app's areas registered."""
    return current_app.extensions.get("encrypted_columns", [])


@dataclass
class RotationReport:
    """How many values were re-encrypted, and which records could not be read."""

    rotated: int = 0
    failures: list[str] = field(default_factory=list)


def count_rows() -> int:
    """Rows to visit, for a progress bar."""
    return sum(
        db.session.scalar(select(func.count()).select_from(model)) or 0
        for model, _ in encrypted_columns()
    )


def rotate_all(batch_size: int = 500, progress: Callable[[int], None] | None = None):
    """Re-encrypt every registered column, batch by batch; a row that no key decrypts is
    reported by name and left as it is, and the run goes on."""
    report = RotationReport()
    for model, columns in encrypted_columns():
        _rotate_model(model, columns, batch_size, report, progress)
    return report


def _rotate_model(model, columns, batch_size, report, progress) -> None:
    table = model.__table__
    key = next(iter(table.primary_key.columns))
    last = None
    while True:
        statement = select(key, *(table.c[c] for c in columns)).order_by(key).limit(batch_size)
        if last is not None:
            statement = statement.where(key > last)
        rows = db.session.execute(statement).all()
        if not rows:
            return
        for row in rows:
            for column in columns:
                _rotate_value(table, key, row[0], column, row._mapping[column], report)
        last = rows[-1][0]
        db.session.commit()  # the point: a long rotation keeps each batch it finished
        if progress:
            progress(len(rows))


def _rotate_value(table, key, ident, column: str, value: str, report, tries: int = 5) -> None:
    """Re-encrypt one value by compare-and-swap: the UPDATE only lands while the column still
    holds what was read, so a refresh or a save that wrote meanwhile is never undone; its new
    value is read and rotated instead (a writer always encrypts with the first key anyway)."""
    keep = {"updated_at": table.c.updated_at} if "updated_at" in table.c else {}
    for _ in range(tries):
        if not value:
            return
        try:
            rotated = crypto.rotate(value)
        except crypto.DecryptionError:
            report.failures.append(
                f"{table.name} id={ident} {column}: no configured "
                "key decrypts it (unknown key or corrupt value)"
            )
            return
        swapped = db.session.execute(
            update(table)
            .where(key == ident, table.c[column] == value)
            .values({column: rotated, **keep})
        ).rowcount
        if swapped:
            report.rotated += 1
            return
        value = db.session.scalar(select(table.c[column]).where(key == ident))
    report.failures.append(f"{table.name} id={ident} {column}: kept changing; run rotate again")
