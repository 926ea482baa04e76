"""The Edit tabs, shared by a user's own profile and an admin's view of a user.

Another area adds a tab with `register_tab` (External Accounts does), so the profile and admin
views never need to know every tab.
"""

from collections.abc import Callable
from dataclasses import dataclass

from flask import abort, render_template


@dataclass(frozen=True)
class EditContext:
    """Whose record is edited, by whom, and how to link to a tab of it."""

    subject: object
    actor: object
    tab_url: Callable[[str], str]
    cancel_url: str
    as_admin: bool


@dataclass(frozen=True)
class Tab:
    """One tab of the Edit page: its slug in the URL, its label, and the view that renders it."""

    slug: str
    label: str
    handler: Callable[[EditContext], object]


TABS: list[Tab] = []


def register_tab(tab: Tab) -> None:
    """Add a tab to the Edit page (idempotent by slug)."""
    if all(existing.slug != tab.slug for existing in TABS):
        TABS.append(tab)


def dispatch(slug: str, context: EditContext):
    """Run the handler of the tab named in the URL, or answer 404."""
    tab = next((t for t in TABS if t.slug == slug), None)
    if tab is None:
        abort(404)
    return tab.handler(context)


def render_tab(context: EditContext, slug: str, template: str, status: int | None = None, **values):
    """Render the Edit page with one tab's body; 400 when the tab's form has errors."""
    form = values.get("form")
    if status is None:
        status = 400 if form is not None and form.errors else 200
    body = render_template(
        "profile/edit.html",
        ctx=context,
        subject=context.subject,
        tabs=TABS,
        tab=slug,
        tab_template=template,
        **values,
    )
    return body, status
