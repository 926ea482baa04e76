"""App factory and HTTP serving for the stand-in."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable

from flask import Flask
from werkzeug.serving import make_server

from . import (
    admin_consent,
    control,
    delegation,
    drive,
    graph,
    identity,
    imap_proxy,
    mail,
    mail_drafts,
    sites,
    token_endpoint,
)
from .keys import signing_key


def create_standin_app(base_url_hint: str | None = None) -> Flask:
    """Build the stand-in Flask app.

    URLs it hands out use ``base_url_hint`` if given, else the host of each request.
    """
    app = Flask("standin")
    app.config["STANDIN_BASE_URL"] = base_url_hint.rstrip("/") if base_url_hint else None
    blueprints = (
        identity.bp,
        admin_consent.bp,
        token_endpoint.bp,
        graph.bp,
        graph.oidc_bp,
        drive.bp,
        drive.transfer_bp,
        sites.bp,
        control.bp,
        mail.bp,
        mail.graph_bp,
        delegation.bp,
        imap_proxy.bp,
        mail_drafts.graph_bp,
        mail_drafts.upload_bp,
        mail_drafts.control_bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    signing_key()
    return app


def serve(
    host: str,
    port: int,
    base_url_hint: str | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT; prints ``standin listening on http://HOST:PORT`` once ready.

    ``on_ready(port)`` runs once the HTTP port is bound, before that line (the mail servers
    start there: Dovecot needs the introspection URL)."""
    server = make_server(host, port, create_standin_app(base_url_hint), threaded=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="standin-http", daemon=True
    )
    worker.start()
    if on_ready is not None:
        on_ready(server.server_port)
    shown_host = f"[{host}]" if ":" in host else host
    print(f"standin listening on http://{shown_host}:{server.server_port}", flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        server.shutdown()
        server.server_close()
        worker.join(timeout=5)
        sys.stdout.flush()
