"""How a page that starts an OAuth flow answers, shared by External Accounts and Emails: the
pop-up script (static/js/connect.js) posts with `Accept: application/json` and gets the flow's
go, status and result URLs; a plain form post (pop-up blocked) is redirected to the provider."""

from flask import flash, jsonify, redirect, request, url_for

from app.connect import oauth_flow
from app.connect.models import OAuthFlow
from app.core.errors import wants_json
from app.users.models import User


def result_url(flow: OAuthFlow) -> str:
    """The page a finished flow leads back to; it shows the outcome (flash_finished_flow)."""
    return f"{flow.return_url}?flow={flow.id}"


def flow_started(flow: OAuthFlow, notice: str = ""):
    """JSON {flow, go_url, status_url, result_url, notice} for the script, else a redirect to
    sign in."""
    if wants_json():
        return jsonify(
            flow=flow.id,
            go_url=url_for("oauth.go", flow_id=flow.id),
            status_url=url_for("oauth.status", flow_id=flow.id),
            result_url=result_url(flow),
            notice=notice,
        )
    if notice:
        flash(notice, "info")
    return redirect(flow.authorize_url)


def flow_refused(message: str, status: int, back_url: str):
    """JSON {error} with the status for the script, else the message flashed on `back_url`."""
    if wants_json():
        return jsonify(error=message), status
    flash(message, "error")
    return redirect(back_url)


def flash_finished_flow(user: User) -> OAuthFlow | None:
    """Back from the provider (`?flow=<id>`): flash the flow's outcome to the user who
    started it, and return the flow."""
    flow = oauth_flow.flow_for(request.args.get("flow", ""), user)
    if flow is not None and flow.status in ("done", "error"):
        flash(flow.message, "success" if flow.status == "done" else "error")
    return flow
