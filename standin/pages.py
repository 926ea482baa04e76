"""HTML pages of the stand-in (account picker, consent, admin approval and admin consent, error),
rendered with autoescaping."""

from __future__ import annotations

from flask import current_app

_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to your account</title>
<style>
 body{font-family:Segoe UI,Helvetica,Arial,sans-serif;background:#f2f2f2;margin:0}
 main{background:#fff;max-width:440px;margin:48px auto;padding:32px 44px;
      box-shadow:0 2px 6px rgba(0,0,0,.2)}
 .banner{background:#fff4ce;border:1px solid #e0c060;padding:6px 10px;font-size:13px;
         margin-bottom:16px}
 h1{font-size:24px;font-weight:600;margin:0 0 16px}
 button{font:inherit;cursor:pointer}
 .account{display:block;width:100%;text-align:left;background:#fff;border:1px solid #ccc;
          padding:10px;margin:6px 0}
 .account.hint{border:2px solid #0067b8;background:#eef6fc}
 .account small{display:block;color:#555}
 .primary{background:#0067b8;color:#fff;border:0;padding:8px 28px}
 .secondary{background:#ccc;border:0;padding:8px 28px;margin-left:8px}
 .error{color:#a80000}
 .who{color:#333;margin:0 0 8px}
 h2{font-size:17px;font-weight:600;margin:0 0 12px}
 a{color:#0067b8}
 .choice{margin:12px 0}
</style></head>
<body><main>
<div class="banner">Local Microsoft stand-in &mdash; not a real Microsoft sign-in page</div>
{% block body %}{% endblock %}
</main></body></html>"""

_PICKER = """{% extends layout %}{% block body %}
<h1>Pick an account</h1>
<p>to continue to <b>{{ client_id }}</b></p>
<form method="post" action="{{ action }}">
<input type="hidden" name="pending" value="{{ pending }}">
{% for account in accounts %}
<button class="account{% if account.oid == hinted %} hint{% endif %}" type="submit"
 name="oid" value="{{ account.oid }}">
{{ account.name }}<small>{{ account.preferred_username }}</small></button>
{% else %}
<p class="error">No account can sign in to this tenant.</p>
{% endfor %}
</form>
{% endblock %}"""

_CONSENT = """{% extends layout %}{% block body %}
<h1>Permissions requested</h1>
<p><b>{{ client_id }}</b> wants to access <b>{{ account.preferred_username }}</b>.
This app would like to:</p>
<ul>{% for words, scope in scopes %}<li title="{{ scope }}">{{ words }}</li>{% endfor %}</ul>
<form method="post" action="{{ action }}">
<input type="hidden" name="pending" value="{{ pending }}">
{% if account.admin %}<p class="choice"><input type="checkbox" id="for-organization"
 name="for_organization" value="1">
<label for="for-organization">Consent on behalf of your organization</label></p>{% endif %}
<button class="primary" type="submit" name="decision" value="accept">Accept</button>
<button class="secondary" type="submit" name="decision" value="cancel">Cancel</button>
</form>
{% endblock %}"""

_ADMIN_APPROVAL = """{% extends layout %}{% block body %}
<p class="who">{{ account.preferred_username }}</p>
<h1>Need admin approval</h1>
<p>{{ client_id }} needs permission to access resources in your organization that only an admin \
can grant. Please ask an admin to grant permission to this app before you can use it.</p>
<p><a href="{{ picker_url }}">Have an admin account? Sign in with that account</a></p>
<form method="post" action="{{ action }}">
<input type="hidden" name="pending" value="{{ pending }}">
<button class="secondary" type="submit" name="decision" value="return">\
Return to the application without granting consent</button>
</form>
{% endblock %}"""

_ADMIN_CONSENT = """{% extends layout %}{% block body %}
<p class="who">{{ account.preferred_username }}</p>
<h1>Permissions requested</h1>
<h2>Accept for your organization</h2>
<p><b>{{ client_id }}</b> would like to access resources of <b>{{ tenant.name }}</b>.
This app would like to:</p>
<ul>{% for words, scope in scopes %}<li title="{{ scope }}">{{ words }}</li>{% endfor %}</ul>
<p>If you accept, this app will get access to the specified resources for all users in your
organization. No one else will be prompted to review these permissions.</p>
<form method="post" action="{{ action }}">
<input type="hidden" name="pending" value="{{ pending }}">
<button class="primary" type="submit" name="decision" value="accept">Accept</button>
<button class="secondary" type="submit" name="decision" value="cancel">Cancel</button>
</form>
{% endblock %}"""

_ERROR = """{% extends layout %}{% block body %}
<h1>Sign in</h1>
<p>Sorry, but we're having trouble signing you in.</p>
<p class="error" id="error">{{ message }}</p>
{% endblock %}"""

_SIGNED_OUT = """{% extends layout %}{% block body %}
<h1>You signed out of your account</h1>
<p>It's a good idea to close all browser windows.</p>
{% endblock %}"""


def _render(template: str, **context) -> str:
    env = current_app.jinja_env
    return env.from_string(template).render(layout=env.from_string(_LAYOUT), **context)


def picker_page(**context) -> str:
    """The "Pick an account" page: pending, client_id, accounts, hinted, action."""
    return _render(_PICKER, **context)


def consent_page(**context) -> str:
    """The "Permissions requested" page: pending, client_id, account, scopes, action."""
    return _render(_CONSENT, **context)


def admin_approval_page(**context) -> str:
    """The "Need admin approval" page: pending, client_id, account, picker_url, action."""
    return _render(_ADMIN_APPROVAL, **context)


def admin_consent_page(**context) -> str:
    """The admin's "Accept for your organization" page: pending, client_id, account, tenant,
    scopes, action."""
    return _render(_ADMIN_CONSENT, **context)


def error_page(message: str) -> str:
    """A Microsoft-style sign-in error page showing an ``AADSTS<code>: ...`` message."""
    return _render(_ERROR, message=message)


def signed_out_page() -> str:
    """The page shown after logout when there is nowhere to return to."""
    return _render(_SIGNED_OUT)
