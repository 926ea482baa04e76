"""Cloud Drive: the Home dashlet over the user's OneDrive, its JSON API and full-page views."""

from flask import Blueprint, Flask

bp = Blueprint("drive", __name__)


def init_app(app: Flask) -> None:
    """Routes and the Home dashlet."""
    from app.core.shell import Dashlet, shell
    from app.drive import routes  # noqa: F401

    app.register_blueprint(bp, url_prefix="/drive")
    shell(app).dashlets.append(Dashlet("cloud_drive", "drive/_dashlet.html"))
