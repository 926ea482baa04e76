"""The sections listed on the Admin page; other areas add theirs with `register_section`."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    """One entry of the Admin page."""

    endpoint: str
    label: str
    description: str


SECTIONS: list[Section] = []


def register_section(section: Section) -> None:
    """Add a section to the Admin page (idempotent by endpoint)."""
    if all(existing.endpoint != section.endpoint for existing in SECTIONS):
        SECTIONS.append(section)
