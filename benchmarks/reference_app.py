"""The reference for bench_pages.py: the issue's "page that makes one database query and renders a
cached template", built the plain way on the same stack as the app (Flask, Flask-SQLAlchemy's
session on the same database, a Jinja template) and nothing else: no sign-in, no session cookie,
no CSRF, no security headers. Where it lands against hello says what such a page can reach on this
machine; the CRM's /profile/ does that and signs a user in on top."""

import os

from flask import Flask, render_template
from flask_sqlalchemy import SQLAlchemy
from jinja2 import DictLoader
from sqlalchemy import bindparam, text

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
db = SQLAlchemy(app)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ user.username }} · CRM</title></head>
<body><h1>{{ user.first_name }} {{ user.last_name }}</h1>
<dl>
  <dt>Username</dt><dd>{{ user.username }}</dd>
  <dt>Email</dt><dd>{{ user.email }}</dd>
  <dt>Title</dt><dd>{{ user.title or '—' }}</dd>
  <dt>Department</dt><dd>{{ user.department or '—' }}</dd>
  <dt>Phone</dt><dd>{{ user.phone or '—' }}</dd>
  <dt>Time Zone</dt><dd>{{ user.time_zone }}</dd>
</dl></body></html>"""
app.jinja_loader = DictLoader({"page.html": PAGE})  # compiled on first use, then cached
USER = text("SELECT * FROM users WHERE id = :id").bindparams(bindparam("id"))


@app.route("/")
def page():
    """One primary-key query, one template (compiled once, cached by Jinja)."""
    user = db.session.execute(USER, {"id": 1}).mappings().one()
    return render_template("page.html", user=user)
