"""Admin > Connectors: configure each provider once, and test the connection."""

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, PasswordField, StringField, SubmitField
from wtforms.validators import Length, Optional

from app.admin import bp
from app.alerts import service as alerts
from app.connect import admin_consent, connectors, oauth_flow
from app.connect.answers import flash_finished_flow
from app.connect.provider import ProviderError
from app.core.db import utcnow
from app.core.forms import ConfirmForm
from app.extensions import db


class ConnectorForm(FlaskForm):
    """Client ID, write-only Client Secret, single-tenant switch with Tenant ID, Enabled, and
    whether Copy Link may make links anyone can open."""

    client_id = StringField("Client ID", validators=[Optional(), Length(max=200)])
    client_secret = PasswordField("Client Secret", validators=[Optional(), Length(max=500)])
    secret_expires_on = DateField("Client secret expires", validators=[Optional()])
    single_tenant = BooleanField("Single-tenant application")
    tenant = StringField("Tenant ID", validators=[Optional(), Length(max=200)])
    enabled = BooleanField("Enabled", default=True)
    allow_anonymous_links = BooleanField(
        "Users may create links that anyone can open (Anyone with the link)"
    )
    submit = SubmitField("Save")


# What each purpose of the CRM asks a provider for, in the order the connector page lists them.
PURPOSES = (
    ("onedrive", "OneDrive and the Cloud Drive"),
    ("mail", "Email over SMTP and IMAP"),
    ("graph_mail", "Email through Microsoft Graph"),
    ("graph_mail_shared", "Email through Microsoft Graph as a shared mailbox"),
)


def permissions(spec) -> list[tuple[str, list[tuple[str, str]]]]:
    """Per purpose the provider serves: its label and each permission (words, scope name)."""
    rows = []
    for purpose, label in PURPOSES:
        try:
            scopes = spec.scopes(purpose)
        except KeyError:  # a provider without that purpose
            continue
        words = spec.scope_words(" ".join(scopes))
        rows.append((label, list(zip(words, scopes, strict=True))))
    return rows


def _spec_or_404(provider: str):
    return connectors.spec(provider) or abort(404)


@bp.route("/connectors")
def connector_list():
    """Every connector the CRM knows, with whether it is ready."""
    rows = [(spec, connectors.get(spec.name)) for spec in connectors.every()]
    return render_template("connect/connectors.html", rows=rows)


@bp.route("/connectors/<provider>", methods=["GET", "POST"])
def connector_edit(provider: str):
    """The connector's form; the secret is never shown, only when it was set."""
    spec = _spec_or_404(provider)
    flash_finished_flow(current_user)  # back from the admin consent
    connector = connectors.get(provider)
    form = ConnectorForm(obj=connector)
    if connector is not None and connector.tenant == "common":
        form.tenant.data = form.tenant.data if form.is_submitted() else ""
    form.client_secret.data = form.client_secret.data if form.is_submitted() else ""
    if form.validate_on_submit():
        try:
            changed = connectors.save(
                current_user,
                provider,
                client_id=form.client_id.data or "",
                client_secret=form.client_secret.data or None,
                single_tenant=form.single_tenant.data,
                tenant=form.tenant.data or "",
                enabled=form.enabled.data,
                allow_anonymous_links=form.allow_anonymous_links.data,
                secret_expires_on=form.secret_expires_on.data,
            )
        except connectors.ConnectorError as error:
            form[error.field or "client_id"].errors.append(error.message)
        else:
            db.session.commit()
            flash(
                f"The {spec.label} connector was saved." if changed else "Nothing changed.",
                "success",
            )
            return redirect(url_for("admin.connector_edit", provider=provider))
    status = 400 if form.errors else 200
    return render_template(
        "connect/connector_edit.html",
        spec=spec,
        connector=connector,
        form=form,
        test_form=ConfirmForm(),
        redirect_uri=connectors.redirect_uri(provider),
        secret_unreadable=connector is not None
        and connector.has_secret
        and not connectors.secret_readable(connector),
        standin=connectors.points_at_standin(),
        permissions=permissions(spec),
        admin_consent=admin_consent.supported(provider),
        today=utcnow().date(),
    ), status


@bp.route("/connectors/<provider>/test", methods=["POST"])
def connector_test(provider: str):
    """Test connection: discovery plus a token request; report the provider's own words."""
    _spec_or_404(provider)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        flash(connectors.test_connection(provider), "success")
    except connectors.ConnectorError as error:
        flash(error.message, "error")
    except ProviderError as error:
        alerts.on_provider_error(provider, error)  # a refused client secret alerts at once
        flash(f"Test failed: {error.message_for(True)}", "error")
    return redirect(url_for("admin.connector_edit", provider=provider))


@bp.route("/connectors/<provider>/admin-consent", methods=["POST"])
def connector_admin_consent(provider: str):
    """Grant admin consent for your organization: off to the provider's admin-consent page,
    back through the redirect URI to this connector's page."""
    _spec_or_404(provider)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    back = url_for("admin.connector_edit", provider=provider)
    try:
        flow = admin_consent.start(current_user, provider, back)
    except oauth_flow.FlowError as error:
        flash(error.message, "error")
        return redirect(back)
    db.session.commit()
    return redirect(flow.authorize_url)
