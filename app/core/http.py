"""Outbound HTTP to providers: pooled sessions per module and worker, with the environment's
proxy and CA settings read once per origin.

A plain `requests.Session` re-reads the whole environment on every call (proxies, NO_PROXY, CA
bundle) and looks for a ~/.netrc entry for the host; when it finds one (a `default` entry matches
every host) its Basic credentials replace the Authorization header we send: the bearer token on
Graph, nothing at all on the token endpoint. The app never wants netrc, and an operator's
HTTPS_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE are fixed for a worker's life.
"""

import os
from functools import lru_cache
from urllib.parse import urlsplit

import requests
from flask import current_app
from requests.utils import get_environ_proxies


@lru_cache(maxsize=64)
def environment_settings(origin: str) -> tuple[dict, str | bool]:
    """The proxies (HTTPS_PROXY/HTTP_PROXY unless NO_PROXY names the host) and the CA bundle
    (REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, else the default) for scheme://host[:port]."""
    proxies = get_environ_proxies(f"{origin}/", no_proxy=None)
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return proxies, bundle or True


class EnvironmentOnce:
    """Mixed into a requests Session: the origin's environment settings (proxies, CA bundle) as
    defaults without reading the environment on every call, never netrc's credentials, and the
    configured timeout (HTTP_TIMEOUT) on every call that does not name one."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.trust_env = False

    def request(self, method, url, *args, **kwargs):
        """As requests' `request`, with the origin's environment settings and the timeout."""
        parts = urlsplit(url)
        proxies, bundle = environment_settings(f"{parts.scheme}://{parts.netloc}".lower())
        if kwargs.get("proxies") is None:
            kwargs["proxies"] = proxies
        if kwargs.get("verify") is None:
            kwargs["verify"] = bundle
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = current_app.config["HTTP_TIMEOUT"]
        return super().request(method, url, *args, **kwargs)


class Session(EnvironmentOnce, requests.Session):
    """A requests Session for calls to a provider: see `EnvironmentOnce`."""
