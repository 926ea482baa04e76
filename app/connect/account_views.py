"""External Accounts views, written once for both the user's own profile and an admin's view
of a user: a `Links` object says where each page of the current context lives."""

from collections.abc import Callable
from dataclasses import dataclass

from flask import abort, flash, jsonify, redirect, request

from app.connect import connectors, external_accounts, oauth_flow, tokens
from app.connect.answers import flash_finished_flow, flow_refused, flow_started
from app.connect.forms import ConnectForm, CreateAccountForm
from app.core.errors import wants_json
from app.core.forms import ConfirmForm
from app.extensions import db
from app.users.tabs import EditContext, render_tab

TAB = "external-accounts"


@dataclass(frozen=True)
class Links:
    """URLs of the External Accounts pages in one context (own profile or admin's view)."""

    new: str
    account: Callable[[int], str]
    connect: Callable[[int], str]
    delete: Callable[[int], str]
    check: Callable[[int], str]


def _render(ctx: EditContext, links: Links, template: str, status: int | None = None, **values):
    return render_tab(
        ctx,
        TAB,
        template,
        status=status,
        links=links,
        standin=connectors.points_at_standin(),
        **values,
    )


def list_tab(ctx: EditContext, links: Links):
    """The tab: Application, Name, Status, Date Modified, and Create."""
    flash_finished_flow(ctx.actor)
    accounts = external_accounts.accounts_of(ctx.subject)
    return _render(
        ctx,
        links,
        "connect/_list.html",
        accounts=accounts,
        labels=connectors.labels(),
    )


def new(ctx: EditContext, links: Links):
    """Create: choose the Application and Connect; only configured connectors are offered."""
    ready = connectors.ready_connectors()
    form = CreateAccountForm()
    form.application.choices = [(p.name, p.label) for p in ready]
    if request.method == "POST":
        if not ready:
            return _refuse(
                ctx,
                links,
                form,
                "The connector is not configured. Please ask your "
                "administrator to check Admin > Connectors.",
                409,
            )
        if not form.validate_on_submit():
            return _refuse(ctx, links, form, "Choose an Application.", 400)
        account, reused = external_accounts.create(ctx.actor, ctx.subject, form.application.data)
        db.session.commit()  # the account is listed (Not connected) whatever the sign-in does
        notice = (
            f"{ctx.subject.full_name} already has a {connectors.label(account.provider)}"
            " account; it is reused."
            if reused
            else ""
        )
        return _start(ctx, links, account, form.mode.data, notice)
    return _render(ctx, links, "connect/_new.html", form=form, ready=ready)


def _refuse(ctx, links, form, message: str, status: int):
    if wants_json():
        return jsonify(error=message), status
    flash(message, "error")
    return _render(
        ctx,
        links,
        "connect/_new.html",
        status=status,
        form=form,
        ready=connectors.ready_connectors(),
    )


def _start(ctx: EditContext, links: Links, account, mode: str, notice: str = ""):
    try:
        flow = external_accounts.start_connect(
            ctx.actor, account, mode=mode, return_url=ctx.tab_url(TAB)
        )
    except oauth_flow.FlowError as error:
        db.session.rollback()
        return flow_refused(error.message, error.status, links.account(account.id))
    db.session.commit()
    return flow_started(flow, notice)


def detail(ctx: EditContext, links: Links, account_id: int):
    """An account: who is connected, tenant, scopes in words, dates; Reauthenticate, Delete."""
    account = external_accounts.account_of(ctx.subject, account_id) or abort(404)
    provider = connectors.spec(account.provider)
    credential = account.credential
    words = provider.scope_words(credential.scopes) if credential and provider else []
    return _render(
        ctx,
        links,
        "connect/_detail.html",
        account=account,
        form=ConnectForm(),
        credential=credential,
        scope_words=words,
        label=connectors.label(account.provider),
    )


def check(ctx: EditContext, links: Links, account_id: int):
    """Check connection: a live call to the provider with the stored token (JSON or a flash)."""
    account = external_accounts.account_of(ctx.subject, account_id) or abort(404)
    try:
        message, ok = external_accounts.check(account), True
    except tokens.TokenUnavailable as error:
        message, ok = error.message, False
    if wants_json():
        return jsonify(ok=ok, message=message), 200 if ok else 502
    flash(message, "success" if ok else "error")
    return redirect(links.account(account.id))


def reconnect(ctx: EditContext, links: Links, account_id: int):
    """Reauthenticate: the same flow for the existing account."""
    account = external_accounts.account_of(ctx.subject, account_id) or abort(404)
    form = ConnectForm()
    if not form.validate_on_submit():
        abort(400)
    return _start(ctx, links, account, form.mode.data)


def delete(ctx: EditContext, links: Links, account_id: int):
    """Confirm, then delete the account and its tokens."""
    account = external_accounts.account_of(ctx.subject, account_id) or abort(404)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        label = connectors.label(account.provider)
        external_accounts.delete(ctx.actor, account)
        db.session.commit()
        flash(f"The {label} account was deleted and its tokens removed.", "success")
        return redirect(ctx.tab_url(TAB))
    return _render(
        ctx,
        links,
        "connect/_delete.html",
        account=account,
        form=form,
        label=connectors.label(account.provider),
    )
