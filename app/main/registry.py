"""What other areas add to the shell: main navigation entries and Home dashlets."""

from dataclasses import dataclass

from flask import Flask


@dataclass(frozen=True)
class NavItem:
    """A link in the header's main navigation."""

    endpoint: str
    label: str
    blueprint: str


@dataclass(frozen=True)
class Dashlet:
    """A panel on the Home dashboard, rendered from its own template."""

    name: str
    template: str


NAV_ITEMS: list[NavItem] = []
DASHLETS: list[Dashlet] = []


def register_nav_item(item: NavItem) -> None:
    """Add a main navigation link (idempotent)."""
    if item not in NAV_ITEMS:
        NAV_ITEMS.append(item)


def register_dashlet(dashlet: Dashlet) -> None:
    """Add a Home dashlet (idempotent)."""
    if dashlet not in DASHLETS:
        DASHLETS.append(dashlet)


def register(app: Flask) -> None:
    """Expose the registries to every template."""
    app.jinja_env.globals["main_nav_items"] = lambda: NAV_ITEMS
    app.jinja_env.globals["home_dashlets"] = lambda: DASHLETS
