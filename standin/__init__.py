"""Local stand-in for Microsoft's identity platform v2.0 (Entra ID), Graph ``/me`` and OneDrive.

Run it as its own process; everything is in memory and nothing goes outbound::

    python -m standin --port 8765 [--host 127.0.0.1] [--client ID:SECRET:REDIRECT_URI ...]
        [--access-token-lifetime SECONDS] [--refresh-token-lifetime SECONDS] [--base-url URL]

Its base URL plays both ``https://login.microsoftonline.com`` and the Graph host
(``{base}/v1.0``). Tests steer it through ``/_standin`` (see :mod:`standin.control`).

Modules: :mod:`.store` (state), :mod:`.identity` (discovery, JWKS, authorize),
:mod:`.token_endpoint`, :mod:`.graph`, :mod:`.drive` (OneDrive routes) over
:mod:`.drive_store` (drives, seeded from :mod:`.drive_seed`), :mod:`.control`, :mod:`.server`.
"""
