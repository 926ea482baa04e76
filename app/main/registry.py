"""What other areas add to the shell: main navigation entries and Home dashlets."""

from dataclasses import dataclass

from flask import Flask, request, url_for


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


_links: dict[tuple, str] = {}


def link(endpoint: str, **values: str) -> str:
    """`url_for` for the links every page repeats (static files, navigation), built once.

    A relative URL depends only on the endpoint, its values and the script root, so the result is
    kept per script root. Only for absolute endpoint names and a bounded set of values.
    """
    key = (request.script_root, endpoint, *sorted(values.items()))
    url = _links.get(key)
    if url is None:
        if endpoint.startswith(".") or len(_links) > 1024:
            return url_for(endpoint, **values)
        url = _links[key] = url_for(endpoint, **values)
    return url


@dataclass(frozen=True)
class NavLink:
    """A main navigation entry with its URL."""

    href: str
    label: str
    blueprint: str


@dataclass(frozen=True)
class ShellLinks:
    """The URLs of the header and the page head, which every page repeats."""

    css: str
    app_js: str
    connect_js: str
    index: str
    home: str
    nav: tuple[NavLink, ...]
    profile: str
    admin: str
    logout: str


_shells: dict[tuple, ShellLinks] = {}


def shell_links() -> ShellLinks:
    """The shell's URLs for this request's script root, built once (one template call where
    each link would cost one: a Jinja call costs about what the `link` lookup behind it does)."""
    key = (request.script_root, len(NAV_ITEMS))
    shell = _shells.get(key)
    if shell is None:
        shell = _shells[key] = ShellLinks(
            css=link("static", filename="css/app.css"),
            app_js=link("static", filename="js/app.js"),
            connect_js=link("static", filename="js/connect.js"),
            index=link("main.index"),
            home=link("main.home"),
            nav=tuple(NavLink(link(i.endpoint), i.label, i.blueprint) for i in NAV_ITEMS),
            profile=link("profile.view"),
            admin=link("admin.index"),
            logout=link("auth.logout"),
        )
    return shell


def register(app: Flask) -> None:
    """Expose the registries to every template."""
    app.jinja_env.globals["link"] = link
    app.jinja_env.globals["shell_links"] = shell_links
    app.jinja_env.globals["home_dashlets"] = lambda: DASHLETS
