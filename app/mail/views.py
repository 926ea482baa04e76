"""Email settings pages, written once for a user's own Email Settings, Admin > System Email
Settings and Admin > Inbound Email: a `SettingsPage` says which account and which parts."""

from dataclasses import dataclass

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user

from app.connect import connectors, oauth_flow
from app.connect.answers import flash_finished_flow, flow_refused, flow_started
from app.core.errors import error_response
from app.core.forms import ConfirmForm
from app.extensions import db, limiter
from app.mail import authorizations, sending, settings
from app.mail import importing as mail_import
from app.mail.forms import AuthorizeForm, InboundForm, OutboundForm, mailbox_form
from app.mail.models import PERSONAL
from app.mail.transport import MailError
from app.users.models import User


@dataclass(frozen=True)
class SettingsPage:
    """One settings page: its endpoint, the account role it edits and which parts it shows.

    A personal page is the signed-in user's own, or, with `subject_arg`, the one of the user
    named by that URL value (an admin acting for a user from Admin > User Management: the
    account and its tokens are that user's, the audit log names the admin)."""

    endpoint: str
    role: str
    title: str
    outbound: bool
    inbound: bool
    subject_arg: str = ""
    # An inbound mailbox's page (Admin > Inbound Email has several): the URL value naming it.
    account_arg: str = ""

    def owner(self):
        """The user whose account this is (None for the system and group accounts)."""
        if self.role != PERSONAL:
            return None
        if not self.subject_arg:
            return current_user._get_current_object()
        if "email_subject" not in g:
            g.email_subject = db.get_or_404(User, request.view_args[self.subject_arg])
        return g.email_subject

    def acting_for(self):
        """The user an admin acts for on this page, or None on one's own or a system page."""
        return self.owner() if self.subject_arg else None

    def account(self):
        """The stored account, or a pre-filled one not saved yet (an inbound mailbox's page:
        that mailbox, or 404)."""
        if self.account_arg:  # by primary key: once loaded, the identity map answers
            return settings.inbound_mailbox(request.view_args[self.account_arg]) or abort(404)
        return settings.account_or_new(self.role, self.owner())

    def stored_account(self):
        """The saved account, or None when there is none yet."""
        if self.account_arg:
            return self.account()
        return settings.account_for(self.role, self.owner())

    def url(self, action: str = "", **values) -> str:
        """The page's URL, or one of its actions'."""
        for arg in (self.subject_arg, self.account_arg):
            if arg:
                values[arg] = request.view_args[arg]
        return url_for(f"{self.endpoint}_{action}" if action else self.endpoint, **values)


def show(page: SettingsPage, outbound=None, inbound=None, status: int = 200, mailbox=None):
    """The settings page: forms, authorization state, tests (and an inbound mailbox's name,
    shared address and who sees it)."""
    flash_finished_flow(current_user)
    account = page.account()
    if inbound is None:
        inbound = InboundForm(obj=account)
        inbound.import_enabled.data = account.import_enabled or settings.import_by_default(account)
    if page.account_arg and mailbox is None:
        mailbox = mailbox_form(account)
    return (
        render_template(
            "mail/settings.html",
            page=page,
            account=account,
            mailbox_form=mailbox,
            graph=account.graph_authorization,
            graph_purpose=settings.graph_purpose(account),
            signed_in_words=settings.signed_in_words,
            outbound_form=outbound or OutboundForm(obj=account),
            inbound_form=inbound,
            authorize_form=AuthorizeForm(),
            confirm_form=ConfirmForm(),
            connector_ready=bool(connectors.ready_connectors()),
            standin=connectors.points_at_standin(),
        ),
        status,
    )


def _field_error(form, error: settings.MailSettingsError) -> None:
    if error.field and error.field in form:
        form[error.field].errors = [*form[error.field].errors, error.message]
    else:
        flash(error.message, "error")


def _flash_saved(message: str, notice: str) -> None:
    flash(message, "success")
    if notice:
        flash(notice, "info")


def save_outbound(page: SettingsPage):
    """Save the outbound settings."""
    form = OutboundForm()
    if form.validate_on_submit():
        outbound = settings.OutboundSettings(
            email_provider=form.email_provider.data,
            from_name=form.from_name.data or "",
            smtp_host=form.smtp_host.data,
            smtp_port=form.smtp_port.data,
            smtp_security=form.smtp_security.data,
            username=form.username.data or "",
            password=form.password.data or "",
            send_via=form.send_via.data,
            allow_user_fallback=form.allow_user_fallback.data,
            shared_address=form.shared_address.data or "",
        )
        try:
            notice = settings.save_outbound(current_user, page.account(), outbound)
        except settings.MailSettingsError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            _flash_saved("The outbound settings were saved.", notice)
            return redirect(page.url())
    return show(page, outbound=form, status=400)


def save_inbound(page: SettingsPage):
    """Save the inbound (IMAP) settings."""
    form = InboundForm()
    if form.validate_on_submit():
        inbound = settings.InboundSettings(
            imap_host=form.imap_host.data,
            imap_port=form.imap_port.data,
            imap_security=form.imap_security.data,
            imap_folder=form.imap_folder.data or "INBOX",
            import_enabled=form.import_enabled.data,
        )
        try:
            notice = settings.save_inbound(current_user, page.account(), inbound)
        except settings.MailSettingsError as error:
            _field_error(form, error)
        else:
            db.session.commit()
            _flash_saved("The inbound settings were saved.", notice)
            return redirect(page.url())
    return show(page, inbound=form, status=400)


def authorize(page: SettingsPage, purpose: str):
    """Authorize: start the pop-up flow with the purpose's own scopes."""
    if purpose in settings.GRAPH_PURPOSES and not page.outbound:
        abort(404)
    form = AuthorizeForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        flow = authorizations.start_authorization(
            current_user, page.account(), purpose, mode=form.mode.data, return_url=page.url()
        )
    except (oauth_flow.FlowError, settings.MailSettingsError) as error:
        db.session.rollback()  # refused: not even the pre-filled settings are kept
        return flow_refused(error.message, error.status, page.url())
    db.session.commit()
    return flow_started(flow)


def deauthorize(page: SettingsPage, purpose: str):
    """Remove an authorization and its tokens, after a confirmation page (GET) that says what
    stops working until it is authorized again; the POST removes it."""
    if purpose not in (settings.PURPOSE, *settings.GRAPH_PURPOSES) or (
        purpose in settings.GRAPH_PURPOSES and not page.outbound
    ):
        abort(404)
    form = ConfirmForm()
    account = page.stored_account()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        if account is not None:
            settings.deauthorize(current_user, account, purpose)
            db.session.commit()
            flash("The authorization was removed and its tokens deleted.", "success")
        return redirect(page.url())
    owner = authorizations.authorization_of(account, purpose)
    if owner is None or not owner.authorized_email:
        flash("There is no authorization to remove.", "info")
        return redirect(page.url())
    return render_template(
        "mail/deauthorize.html", page=page, account=account, owner=owner, purpose=purpose, form=form
    )


def _saved_account(page: SettingsPage):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    account = page.stored_account()
    if account is None:
        flash("Save the settings first.", "error")
    return account


def send_test(page: SettingsPage):
    """Send Test Email to the account's own address; the outcome in words."""
    account = _saved_account(page)
    if account is None:
        return redirect(page.url())
    try:
        message = sending.send_test(current_user, account)
    except settings.MailSettingsError as error:
        flash(error.message, "error")
    else:
        if message.status == "sent":
            flash(f"The test email was sent to {message.to_addresses}.", "success")
        else:
            flash(f"Send Test Email failed: {message.status_reason}", "error")
    return redirect(page.url())


def test_inbound(page: SettingsPage):
    """Test: sign in to IMAP and open the folder."""
    account = _saved_account(page)
    if account is not None:
        try:
            flash(mail_import.test_inbound(account), "success")
        except MailError as error:
            flash(f"Test failed: {error.message}", "error")
    return redirect(page.url())


def check_now(page: SettingsPage):
    """Check now: import what arrived since the last check."""
    account = _saved_account(page)
    if account is not None:
        try:
            flash(mail_import.check_now(account).message, "success")
        except MailError as error:
            flash(f"Check failed: {error.message}", "error")
    return redirect(page.url())


# Send Test Email, Test and Check now reach out to mail servers: each user may run a few a
# minute (MAIL_TEST_RATE_LIMIT), counted together on every settings page.
RATE_LIMITED = {"test_email", "test_inbound", "check"}
TOO_MANY_TESTS = "You ran too many mail tests in a short time. Please wait a minute and try again."


def _signed_in_user() -> str:
    """Whom the mail test limit counts: the signed-in user (the address before signing in)."""
    if current_user.is_authenticated:
        return f"user-{current_user.get_id()}"
    return get_remote_address()


def too_many_tests(page: SettingsPage):
    """429 with the reason and the way back to the settings page (JSON for a script)."""
    return make_response(error_response(429, TOO_MANY_TESTS, (f"Back to {page.title}", page.url())))


def _rate_limited(error: RateLimitExceeded):
    """A mail test over the limit answers with too_many_tests' page."""
    return error.response if error.response is not None else error_response(429, TOO_MANY_TESTS)


def _action_view(page: SettingsPage, action: str, handler):
    """The view of one action, named after its endpoint (the rate limiter tells views apart
    by name), rate-limited when it contacts a mail server."""

    # The rule's own values (the subject's user_id) are read by the page from request.view_args.
    def view(**_):
        return handler(page)

    view.__name__ = view.__qualname__ = f"{page.endpoint}_{action}".replace(".", "_")
    if action not in RATE_LIMITED:
        return view
    return limiter.shared_limit(
        lambda: current_app.config["MAIL_TEST_RATE_LIMIT"],
        scope="mail-tests",
        key_func=_signed_in_user,
        on_breach=lambda _limit: too_many_tests(page),
    )(view)


def add_routes(bp: Blueprint, rule: str, page: SettingsPage, decorate=lambda f: f) -> None:
    """Register the page and its actions on a blueprint (endpoint names from the page)."""
    name = page.endpoint.split(".", 1)[1]
    handlers = {}
    if page.outbound:
        handlers.update(outbound=save_outbound, test_email=send_test)
    if page.inbound:
        handlers.update(inbound=save_inbound, test_inbound=test_inbound, check=check_now)

    def view(**_):
        return show(page)

    bp.add_url_rule(rule, name, decorate(view))
    bp.register_error_handler(RateLimitExceeded, _rate_limited)
    for action, handler in handlers.items():
        bp.add_url_rule(
            f"{rule}/{action.replace('_', '-')}",
            f"{name}_{action}",
            decorate(_action_view(page, action, handler)),
            methods=["POST"],
        )
    bp.add_url_rule(
        f"{rule}/authorize/<purpose>",
        f"{name}_authorize",
        decorate(lambda purpose, **_: authorize(page, purpose)),
        methods=["POST"],
    )
    bp.add_url_rule(
        f"{rule}/deauthorize/<purpose>",
        f"{name}_deauthorize",
        decorate(lambda purpose, **_: deauthorize(page, purpose)),
        methods=["GET", "POST"],
    )
