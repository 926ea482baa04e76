"""The CRM app factory."""

import logging
import os
from datetime import timedelta
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app.extensions import csrf, db, limiter, login_manager, migrate
from config import Config

ROOT = Path(__file__).resolve().parent.parent


class CRM(Flask):
    """Flask, remembering which functions it need not wrap for async.

    Flask asks `inspect.iscoroutinefunction` about every hook, context processor and view on
    every request (a dozen questions per page); the answer for a function never changes.
    """

    def ensure_sync(self, func):
        """`func`, or Flask's wrapper for a coroutine function; decided once per function."""
        known = self.__dict__.setdefault("_ensured", {})
        try:
            return known[func]
        except KeyError:
            pass
        except TypeError:  # not hashable: ask Flask every time
            return super().ensure_sync(func)
        if len(known) >= 1024:  # hooks are few; anything else must not grow without bound
            known.clear()
        sync = known[func] = super().ensure_sync(func)
        return sync


class DatabaseId(IntegerConverter):
    """`<int:...>` in routes: a non-negative integer that fits the database's INTEGER."""

    def __init__(self, url_map, fixed_digits=0, min=None, max=2**31 - 1, signed=False):  # noqa: A002
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def create_app(config_object: type = Config, **overrides) -> Flask:
    """Build the app: configuration, extensions, blueprints, error handlers, commands."""
    app = CRM(
        __name__,
        instance_path=overrides.get("INSTANCE_PATH")
        or os.environ.get("INSTANCE_PATH")
        or str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(config_object)
    app.config.update(overrides)
    # An id the database cannot hold (PostgreSQL's INTEGER, SQLite's 64 bits) matches no route:
    # a 404, never an overflow error in the query.
    app.url_map.converters["int"] = DatabaseId
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=app.config["SESSION_LIFETIME_HOURS"])
    if app.config["TRUSTED_PROXIES"]:
        # The client's address (sign-in throttle) and scheme come from the trusted proxies'
        # X-Forwarded-For/-Proto; the host never does (PUBLIC_BASE_URL is the origin).
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    # JSON keys in the order the code builds them (deterministic already): sorting every
    # object's keys cost a Cloud Drive page of 100 rows 4% of its instructions.
    app.json.sort_keys = False
    configure_secrets(app)
    configure_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_security(app)
    return app


def configure_secrets(app: Flask) -> None:
    """Fill SECRET_KEY, TOKEN_ENCRYPTION_KEYS and the database; refuse to guess in production."""
    from app.services.instance import load_or_create_secret, require_in_production

    production = app.config["APP_ENV"] == "production"
    for name in ("SECRET_KEY", "TOKEN_ENCRYPTION_KEYS"):
        if not app.config.get(name):
            if production:
                require_in_production(name)
            app.config[name] = load_or_create_secret(app.instance_path, name)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'app.db'}"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A ping per checkout buys nothing for an in-process database; keep it for servers.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
            "pool_pre_ping": False,
        }
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql://"):
        app.config["SQLALCHEMY_DATABASE_URI"] = app.config["SQLALCHEMY_DATABASE_URI"].replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
    https = app.config["PUBLIC_BASE_URL"].startswith("https://")
    app.config["SESSION_COOKIE_SECURE"] = https
    app.config["REMEMBER_COOKIE_SECURE"] = https


def configure_logging(app: Flask) -> None:
    """Log to stderr at INFO; secrets never reach a log line (they are never formatted)."""
    if not app.debug and not app.testing:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )


def register_extensions(app: Flask) -> None:
    """Bind the unbound extensions to this app."""
    from app.models import base  # noqa: F401  (import the models so metadata is complete)
    from app.services import sessions, sqlite

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.user_loader(sessions.user_for)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to open that page."
    login_manager.login_message_category = "info"
    sqlite.configure(app)


def register_blueprints(app: Flask) -> None:
    """Each area of the app is a blueprint."""
    from app.accounts import bp as accounts_bp
    from app.admin import bp as admin_bp
    from app.auth import bp as auth_bp
    from app.drive import bp as drive_bp
    from app.emails import admin_bp as emails_admin_bp
    from app.emails import bp as emails_bp
    from app.main import bp as main_bp
    from app.main import registry
    from app.oauth import bp as oauth_bp
    from app.profile import bp as profile_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(main_bp)
    app.register_blueprint(profile_bp, url_prefix="/profile")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(accounts_bp, url_prefix="/profile/external-accounts")
    app.register_blueprint(oauth_bp)
    app.register_blueprint(emails_bp, url_prefix="/emails")
    app.register_blueprint(emails_admin_bp, url_prefix="/admin/email")
    app.register_blueprint(drive_bp, url_prefix="/drive")
    registry.register(app)


def register_errorhandlers(app: Flask) -> None:
    """403/404/405/400/413/500 answered in the app's look (or as JSON for JSON clients)."""
    from app.errors.handlers import register

    register(app)


def register_commands(app: Flask) -> None:
    """`flask users ...` and the other operator commands."""
    from app.cli import register

    register(app)


def register_security(app: Flask) -> None:
    """Security headers on every response."""
    from app.services.security import register

    register(app)
