"""The shell every page shares: the main navigation, the Home dashlets, the sections of the Admin
page and the tabs of a profile's Edit page.

Each area adds its entries in its `init_app`; the lists live on the app (`app.extensions`), so
they are complete for every app built and never depend on which modules happened to be imported.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, current_app


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


@dataclass(frozen=True)
class Section:
    """One entry of the Admin page."""

    endpoint: str
    label: str
    description: str


@dataclass(frozen=True)
class Tab:
    """One tab of a profile's Edit page: its slug in the URL, its label, the view that renders it
    (called with the page's context)."""

    slug: str
    label: str
    handler: Callable


@dataclass
class Shell:
    """What the areas added to the shell, in the order they added it."""

    nav: list[NavItem] = field(default_factory=list)
    dashlets: list[Dashlet] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    tabs: list[Tab] = field(default_factory=list)


def init_app(app: Flask) -> None:
    """Give the app an empty shell, and templates a way to read it."""
    app.extensions["shell"] = Shell()
    app.jinja_env.globals["shell"] = shell


def shell(app: Flask | None = None) -> Shell:
    """The shell of `app` (the current app by default)."""
    return (app or current_app).extensions["shell"]
