"""Home (the dashboard the areas' dashlets fill) and /healthz."""

from flask import Blueprint, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import csrf, db

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    """Send visitors to Home or to the login page."""
    return redirect(url_for("main.home" if current_user.is_authenticated else "auth.login"))


@bp.route("/home")
@login_required
def home():
    """The Home dashboard."""
    return render_template("core/home.html")


@bp.route("/healthz")
@csrf.exempt
def healthz():
    """200 when the database answers, 503 otherwise (for load balancers)."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok")
