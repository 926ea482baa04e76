"""Configuration from the environment (see PRODUCT.md's table)."""

import os


def _env_flag(name: str, default: bool = False) -> bool:
    """Read a yes/no environment variable."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Settings read from the environment; secrets fall back to instance files in development."""

    APP_ENV = os.environ.get("APP_ENV") or os.environ.get("FLASK_ENV") or "development"
    SECRET_KEY = os.environ.get("SECRET_KEY")
    TOKEN_ENCRYPTION_KEYS = os.environ.get("TOKEN_ENCRYPTION_KEYS")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    MICROSOFT_AUTHORITY = os.environ.get(
        "MICROSOFT_AUTHORITY", "https://login.microsoftonline.com"
    ).rstrip("/")
    MICROSOFT_GRAPH_URL = os.environ.get(
        "MICROSOFT_GRAPH_URL", "https://graph.microsoft.com/v1.0"
    ).rstrip("/")
    MICROSOFT_OUTLOOK_RESOURCE = os.environ.get(
        "MICROSOFT_OUTLOOK_RESOURCE", "https://outlook.office.com"
    ).rstrip("/")
    # Seconds for every outbound HTTP call: (connect, read).
    HTTP_TIMEOUT = (
        float(os.environ.get("HTTP_CONNECT_TIMEOUT", "5")),
        float(os.environ.get("HTTP_READ_TIMEOUT", "15")),
    )
    # Mail: seconds for every SMTP/IMAP conversation step; IMAP import batches (messages, and
    # bytes of text parts per FETCH) keep memory bounded; the import keeps at most
    # MAIL_MAX_BODY_BYTES of each text or HTML body (the page says when it was cut).
    MAIL_TIMEOUT = float(os.environ.get("MAIL_TIMEOUT", "30"))
    # Extra certificate authorities (a PEM file) to trust for SMTP/IMAP TLS, beside the system's:
    # a company's own mail relay, or the local stand-in's CA. Empty: the system's only.
    MAIL_CA_FILE = os.environ.get("MAIL_CA_FILE", "")
    MAIL_FETCH_BATCH = int(os.environ.get("MAIL_FETCH_BATCH", "500"))
    MAIL_FETCH_BATCH_BYTES = int(os.environ.get("MAIL_FETCH_BATCH_BYTES", str(16 * 1024 * 1024)))
    MAIL_MAX_BODY_BYTES = int(os.environ.get("MAIL_MAX_BODY_BYTES", str(1024 * 1024)))
    # Compose: the most bytes of attachments one message may carry, all files together (the
    # page refuses more before uploading; the server too, in words).
    MAIL_MAX_ATTACHMENT_BYTES = int(
        os.environ.get("MAIL_MAX_ATTACHMENT_BYTES", str(25 * 1024 * 1024))
    )
    # "host:port:security" pre-filled for new Exchange Online accounts instead of Microsoft's
    # servers (make run points them at the local stand-in).
    MAIL_DEFAULT_SMTP = os.environ.get("MAIL_DEFAULT_SMTP", "")
    MAIL_DEFAULT_IMAP = os.environ.get("MAIL_DEFAULT_IMAP", "")
    # Comma-separated `host` or `host:port` that mail accounts may use beyond Microsoft's own
    # mail hosts (Exchange Online) and public addresses on mail ports (Other): the only way to
    # allow a private or loopback address (the local stand-in, a company relay) or another port.
    MAIL_ALLOWED_HOSTS = os.environ.get("MAIL_ALLOWED_HOSTS", "")
    # Send Test Email, Test and Check now, per user (Flask-Limiter's notation).
    MAIL_TEST_RATE_LIMIT = os.environ.get("MAIL_TEST_RATE_LIMIT", "10 per minute")
    # Background jobs (app/jobs). With PostgreSQL they run on procrastinate's workers
    # (`flask worker`); with SQLite cron runs them inline. Crons: 5 fields, or 6 with seconds.
    JOBS_SYNC_CRON = os.environ.get("JOBS_SYNC_CRON", "*/5 * * * *")
    JOBS_ALERTS_CRON = os.environ.get("JOBS_ALERTS_CRON", "*/5 * * * *")
    JOBS_TOKENS_CRON = os.environ.get("JOBS_TOKENS_CRON", "17 3 * * *")
    JOBS_RECOVER_CRON = os.environ.get("JOBS_RECOVER_CRON", "* * * * * */30")
    JOBS_TOKEN_IDLE_DAYS = int(os.environ.get("JOBS_TOKEN_IDLE_DAYS", "60"))
    JOBS_WORKER_CONCURRENCY = int(os.environ.get("JOBS_WORKER_CONCURRENCY", "4"))
    # Concurrent IMAP connections per tenant across all workers (0: no cap), and how long a
    # sync waits when its tenant has none free.
    JOBS_IMAP_PER_TENANT = int(os.environ.get("JOBS_IMAP_PER_TENANT", "16"))
    JOBS_TENANT_BUSY_SECONDS = int(os.environ.get("JOBS_TENANT_BUSY_SECONDS", "15"))
    # Retries: base * 2**attempt seconds (capped), never before a server's Retry-After.
    JOBS_MAX_ATTEMPTS = int(os.environ.get("JOBS_MAX_ATTEMPTS", "5"))
    JOBS_RETRY_BASE_SECONDS = int(os.environ.get("JOBS_RETRY_BASE_SECONDS", "30"))
    JOBS_RETRY_MAX_SECONDS = int(os.environ.get("JOBS_RETRY_MAX_SECONDS", "1800"))
    # A worker beats every HEARTBEAT seconds; one silent for STALLED seconds is dead, and its
    # running jobs go back to the queue.
    JOBS_HEARTBEAT_SECONDS = float(os.environ.get("JOBS_HEARTBEAT_SECONDS", "10"))
    JOBS_STALLED_SECONDS = float(os.environ.get("JOBS_STALLED_SECONDS", "30"))
    JOBS_DELETE_SUCCEEDED = _env_flag("JOBS_DELETE_SUCCEEDED", True)
    # Where Flask-Limiter counts: memory (per worker) unless an operator names a shared store.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    # Shown in the connector form when the authority is the local stand-in.
    STANDIN_NOTICE = _env_flag("MICROSOFT_STANDIN")

    # A sign-in ends after this many hours whatever happens, or after this many idle minutes.
    SESSION_LIFETIME_HOURS = float(os.environ.get("SESSION_LIFETIME_HOURS", "12"))
    SESSION_IDLE_MINUTES = float(os.environ.get("SESSION_IDLE_MINUTES", "30"))
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are believed (ProxyFix).
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))

    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SESSION_COOKIE_HTTPONLY = True
    # The cookie expires with the sign-in's absolute lifetime; it is not re-sent on every page.
    SESSION_REFRESH_EACH_REQUEST = False
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    USERS_PER_PAGE = 25
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCKOUT_SECONDS = 300
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024


class TestConfig(Config):
    """Settings for pytest: in-memory secrets, no CSRF unless a test turns it back on."""

    APP_ENV = "testing"
    TESTING = True
    WTF_CSRF_ENABLED = False
    SECRET_KEY = "test-secret-key"  # noqa: S105
    TOKEN_ENCRYPTION_KEYS = "0TnsH0cvuKfQ6LsZ4Yb0xVwNpyLdOJN5yqqR8BRTIHk="  # noqa: S105
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    LOGIN_MAX_FAILURES = 5
