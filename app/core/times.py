"""Times as the person reading them lives them: in the Time Zone of their profile, and saying
which zone ("2026-12-03 20:15 (Europe/Berlin)"; a table says it once, in its column heading).
Stored times are UTC; only pages and emails convert."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask
from flask_login import current_user

MINUTES = "%Y-%m-%d %H:%M"


def zone(name: str | None) -> ZoneInfo:
    """The named time zone, or UTC when the name is empty or unknown on this machine."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local(
    when: datetime | str | None, zone_name: str | None, fmt: str = MINUTES, named: bool = True
) -> str:
    """`when` (a datetime, or ISO 8601 text as Graph sends) in that zone, formatted, with the
    zone's name unless `named` is off ("" for no time). Names, not abbreviations: "CST" is three
    different zones."""
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            return ""
    if when is None:
        return ""
    place = zone(zone_name)
    text = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(place).strftime(fmt)
    return f"{text} ({place.key})" if named else text


def today(zone_name: str | None):
    """Today's date where the person is."""
    return datetime.now(zone(zone_name)).date()


def reader_zone() -> str:
    """The signed-in person's time zone (UTC for anyone else)."""
    return getattr(current_user, "time_zone", None) or "UTC"


def localtime(when: datetime | str | None, fmt: str = MINUTES, named: bool = True) -> str:
    """Jinja filter: `{{ event.created_at|localtime }}` in the reader's zone, named; in a table,
    `|localtime(named=false)` under a heading that names `reader_zone()` once."""
    return local(when, reader_zone(), fmt, named)


def init_app(app: Flask) -> None:
    """The `localtime` filter and `reader_zone()` for every template."""
    app.add_template_filter(localtime)
    app.add_template_global(reader_zone)
