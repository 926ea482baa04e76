"""The CRM app factory: configuration, extensions, then each area's `init_app` (blueprints and
what the area adds to the shell and the registries), error handlers and security headers."""

import logging
import os
from datetime import timedelta
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app.core.db import configure_sqlite
from app.extensions import csrf, db, limiter, login_manager, migrate
from config import Config

ROOT = Path(__file__).resolve().parent.parent


class DatabaseId(IntegerConverter):
    """`<int:...>` in routes: a non-negative integer that fits the database's INTEGER."""

    def __init__(self, url_map, fixed_digits=0, min=None, max=2**31 - 1, signed=False):  # noqa: A002
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def create_app(config_object: type = Config, **overrides) -> Flask:
    """Build the app: configuration, extensions, the areas, error handlers, security headers."""
    app = Flask(
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
    register_areas(app)
    return app


def configure_secrets(app: Flask) -> None:
    """Fill SECRET_KEY, TOKEN_ENCRYPTION_KEYS and the database; refuse to guess in production."""
    from app.core.instance import load_or_create_secret, require_in_production

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
    """Bind the unbound extensions to this app, once every area's models are known (their
    relationships name each other, and Alembic compares the whole metadata)."""
    from app.connect import models as connect_models  # noqa: F401
    from app.mail import models as mail_models  # noqa: F401
    from app.users import models as users_models  # noqa: F401

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to open that page."
    login_manager.login_message_category = "info"
    configure_sqlite(app)


def register_areas(app: Flask) -> None:
    """The shell first (the others add to it), the providers users may connect to, then each
    area; the admin area last, since it hangs the other areas' admin pages on its blueprint."""
    from app import admin, alerts, connect, drive, jobs, mail, users
    from app.connect import provider
    from app.core import errors, routes, security, shell, times
    from app.microsoft.identity import MicrosoftProvider

    shell.init_app(app)
    times.init_app(app)
    provider.register(app, MicrosoftProvider())
    errors.init_app(app)
    security.init_app(app)
    app.register_blueprint(routes.bp)
    for area in (users, connect, drive, mail, alerts, jobs, admin):
        area.init_app(app)
