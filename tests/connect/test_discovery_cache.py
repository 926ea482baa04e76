"""Discovery and the signing keys are fetched once per cache time, not once per connect; a key
rollover at Microsoft is still picked up at once (the stand-in counts what it served)."""

import time

import pytest

from app.connect import oidc
from tests.connect.conftest import connect


@pytest.fixture
def sally(auth, configured):
    auth.login()
    return auth


def fetched(ms) -> tuple[int, int]:
    """How often the stand-in served (discovery, the signing keys) since its reset."""
    stats = ms.stats()
    return stats.get("discovery", 0), stats.get("jwks", 0)


def connected(flow) -> bool:
    return 'data-status="done"' in flow.callback.get_data(as_text=True)


class Later:
    """`time` as the OpenID client reads it, `seconds` from now."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def monotonic(self) -> float:
        return time.monotonic() + self.seconds


def test_a_second_connect_within_the_cache_time_fetches_neither(sally, client, ms, monkeypatch):
    assert connected(connect(client))
    assert fetched(ms) == (1, 1)
    assert connected(connect(client))
    assert fetched(ms) == (1, 1)
    monkeypatch.setattr(oidc, "time", Later(oidc.CACHE_SECONDS + 1))
    assert connected(connect(client))
    assert fetched(ms) == (2, 2)  # once the cache time is over, both are read again


def test_a_signing_key_rollover_is_picked_up(sally, client, ms):
    assert connected(connect(client))
    assert fetched(ms) == (1, 1)
    ms.control("POST", "/keys/rotate")
    assert connected(connect(client))  # signed with a kid the cached keys do not have
    assert fetched(ms) == (1, 2)
    assert connected(connect(client))
    assert fetched(ms) == (1, 2)  # the new key is cached in turn
