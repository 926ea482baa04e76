"""Users: sign-in and server-side sessions, the profile and its Edit tabs, User Management, the
sign-in throttle and the audit log; `flask users`, `flask seed-demo`."""

from flask import Blueprint, Flask

auth_bp = Blueprint("auth", __name__)
profile_bp = Blueprint("profile", __name__)


def init_app(app: Flask) -> None:
    """Routes, the session-aware user loader, the User Profile and Password tabs, commands."""
    from app.core.shell import Section, Tab, shell
    from app.extensions import login_manager
    from app.users import auth_routes, cli, profile_routes, sessions, tab_views  # noqa: F401

    login_manager.user_loader(sessions.user_for)
    app.register_blueprint(auth_bp)
    app.register_blueprint(profile_bp, url_prefix="/profile")
    shell(app).tabs += [
        Tab("user-profile", "User Profile", tab_views.profile_tab),
        Tab("password", "Password", tab_views.password_tab),
    ]
    shell(app).sections.append(
        Section("admin.user_list", "User Management", "Create, edit, deactivate and delete users.")
    )
    cli.init_app(app)
