"""The baseline for bench_pages.py: a bare Flask app that answers "Hello, World!"."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    """The cheapest page Flask can serve."""
    return "Hello, World!"
