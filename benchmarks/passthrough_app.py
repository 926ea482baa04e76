"""The floor for bench_drive.py: the least a gunicorn + Flask app can do for a Cloud Drive page.
It fetches the Graph page it is given once (a per-process Session, as the app's) and answers
Graph's bytes unchanged: no sign-in, no database, no token store, no shaping."""

import os

import requests
from flask import Flask, Response, abort, request

GRAPH = os.environ["MICROSOFT_GRAPH_URL"]
app = Flask(__name__)
graph = requests.Session()


@app.get("/page")
def page():
    """Graph's answer for `?url=` (a Graph URL only), with the caller's Authorization header."""
    url = request.args.get("url", "")
    if not url.startswith(f"{GRAPH}/"):
        abort(400)
    headers = {"Authorization": request.headers.get("Authorization", "")}
    answer = graph.get(url, headers=headers, timeout=(3, 30))
    return Response(answer.content, status=answer.status_code, mimetype="application/json")


@app.get("/healthz")
def healthz():
    """Up."""
    return "ok"
