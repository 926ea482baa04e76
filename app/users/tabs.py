"""The Edit tabs, shared by a user's own profile and an admin's view of a user.

Areas add tabs to the shell in their `init_app` (External Accounts does), so the profile and
admin views never need to know every tab.
"""

from collections.abc import Callable
from dataclasses import dataclass

from flask import abort, render_template, url_for
from flask_login import current_user

from app.core.shell import shell


@dataclass(frozen=True)
class EditContext:
    """Whose record is edited, by whom, and how to link to a tab of it."""

    subject: object
    actor: object
    tab_url: Callable[[str], str]
    cancel_url: str
    as_admin: bool


def dispatch(slug: str, context: EditContext):
    """Run the handler of the tab named in the URL, or answer 404."""
    tab = next((t for t in shell().tabs if t.slug == slug), None)
    if tab is None:
        abort(404)
    return tab.handler(context)


def render_tab(context: EditContext, slug: str, template: str, status: int | None = None, **values):
    """Render the Edit page with one tab's body; 400 when the tab's form has errors."""
    form = values.get("form")
    if status is None:
        status = 400 if form is not None and form.errors else 200
    body = render_template(
        "users/edit.html",
        ctx=context,
        subject=context.subject,
        tabs=shell().tabs,
        tab=slug,
        tab_template=template,
        **values,
    )
    return body, status


def own_context() -> EditContext:
    """The signed-in user editing their own record (Profile > Edit)."""
    user = current_user._get_current_object()
    return EditContext(
        subject=user,
        actor=user,
        tab_url=lambda slug: url_for("profile.edit", tab=slug),
        cancel_url=url_for("profile.view"),
        as_admin=False,
    )


def admin_context(subject) -> EditContext:
    """The signed-in admin editing another user's record (Admin > User Management)."""
    return EditContext(
        subject=subject,
        actor=current_user._get_current_object(),
        tab_url=lambda slug: url_for("admin.edit_user", user_id=subject.id, tab=slug),
        cancel_url=url_for("admin.user_list"),
        as_admin=True,
    )
