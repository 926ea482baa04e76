"""Go to the provider, the callback (pop-up bridge or same-window redirect), flow status and
the confirmation when a different account signed in."""

from urllib.parse import urlsplit

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.connect import answers, connectors, oauth_flow
from app.connect import oauth_bp as bp
from app.connect.models import CONFIRM, PENDING
from app.core.forms import ConfirmForm
from app.extensions import db
from app.users.models import User


def _no_coop(response):
    """The pop-up's pages must not cut the opener off (COOP); "" removes the default header."""
    response.headers["Cross-Origin-Opener-Policy"] = ""
    return response


def _flow_or_404(flow_id: str):
    return oauth_flow.flow_for(flow_id, current_user) or abort(404)


@bp.route("/oauth/flows/<flow_id>/go")
@login_required
def go(flow_id: str):
    """Send the pop-up to the provider's sign-in (only the user who started the flow)."""
    flow = _flow_or_404(flow_id)
    if flow.status != PENDING or flow.used_at is not None:
        abort(410)
    return _no_coop(redirect(flow.authorize_url))


@bp.route("/oauth/<provider>/callback")
@login_required
def callback(provider: str):
    """The provider's redirect: finish the flow, then tell the opener or go back."""
    if connectors.spec(provider) is None:
        abort(404)
    try:
        flow = oauth_flow.finish(provider, request.args.to_dict(), current_user)
    except oauth_flow.FlowError as error:
        page = render_template(
            "connect/bridge.html",
            status="error",
            flow_id="",
            message=error.message,
            origin=_origin(),
        )
        return _no_coop(current_app.make_response((page, error.status)))
    if flow.mode == "redirect":
        return redirect(_next_url(flow))
    page = render_template(
        "connect/bridge.html",
        status=flow.status,
        flow_id=flow.id,
        message=flow.message,
        origin=_origin(),
        next_url=_next_url(flow),
    )
    return _no_coop(current_app.make_response(page))


def _origin() -> str:
    parts = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    return f"{parts.scheme}://{parts.netloc}"


def _next_url(flow) -> str:
    if flow.status == CONFIRM:
        return url_for("oauth.confirm", flow_id=flow.id)
    return answers.result_url(flow)


@bp.route("/oauth/flows/<flow_id>")
@login_required
def status(flow_id: str):
    """The opener polls this: status and message of its own flow, never a token."""
    flow = _flow_or_404(flow_id)
    body = oauth_flow.public_status(flow)
    if flow.status != PENDING:
        body["next"] = _next_url(flow)
    return jsonify(body)


@bp.route("/oauth/flows/<flow_id>/confirm", methods=["GET", "POST"])
@login_required
def confirm(flow_id: str):
    """A held sign-in (acting for another user, or another identity than the connected one):
    show who signed in beside whose account it is for; store it, or Cancel and delete it."""
    flow = _flow_or_404(flow_id)
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        accept = request.form.get("decision") == "confirm"
        try:
            oauth_flow.confirm(flow, accept=accept)
        except oauth_flow.FlowError as error:
            flash(error.message, "error")
            return redirect(flow.return_url)
        kind = "success" if flow.status == "done" else ("error" if accept else "info")
        flash(flow.message, kind)
        return redirect(flow.return_url)
    held = oauth_flow.held_sign_in(flow)
    if held is None:
        if flow.status == CONFIRM:
            flash("This choice expired, so nothing was stored. Please connect again.", "info")
        return redirect(flow.return_url)
    subject = db.session.get(User, flow.target_user_id)
    return render_template(
        "connect/confirm.html",
        flow=flow,
        form=form,
        held=held,
        subject=subject,
        label=connectors.label(flow.provider),
    )
