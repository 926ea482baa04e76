"""Cloud Drive fixtures: the app wired to the running stand-in (from tests/accounts) and sally
signed in with her Microsoft account (Adele) connected through the real connect flow."""

import pytest

from tests.connect.conftest import configured, connect, ms  # noqa: F401  (fixtures)

GRAPH_PREFIX = "graph."
# For tests that only exercise Graph through the app: the database plays no part in them.
API = "/drive/api"


def children(client, **params) -> dict:
    """A listing from the dashlet's API (it must answer 200)."""
    response = client.get(f"{API}/children", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def names(listing: dict) -> list[str]:
    """The names of a listing's rows, in order."""
    return [row["name"] for row in listing["rows"]]


def row_named(listing: dict, name: str) -> dict:
    """The row of that name in a listing."""
    return next(row for row in listing["rows"] if row["name"] == name)


SQLITE_ONLY = pytest.mark.parametrize(
    "database_url", [pytest.param("sqlite", id="sqlite")], indirect=True
)


@pytest.fixture
def sally(auth, client, configured):  # noqa: F811
    """Sally signed in, with Adele's Microsoft account connected; returns the client."""
    auth.login()
    flow = connect(client)
    assert flow.callback.status_code == 200, flow.callback.get_data(as_text=True)[:300]
    return client


class GraphCalls:
    """Counts the stand-in's Graph calls made since the last `reset()`."""

    def __init__(self, ms):  # noqa: F811
        self.ms = ms
        self.reset()

    def _graph(self) -> dict:
        return {
            k: v
            for k, v in self.ms.stats().items()
            if k.startswith(GRAPH_PREFIX) and k != "graph.error"
        }

    def reset(self) -> None:
        """Start counting from now."""
        self.before = self._graph()

    def since(self) -> dict:
        """Graph calls per operation since the last reset."""
        after = self._graph()
        counts = {k: v - self.before.get(k, 0) for k, v in after.items()}
        return {k: v for k, v in counts.items() if v}


@pytest.fixture
def graph_calls(ms):  # noqa: F811
    """Graph call counter (stand-in stats)."""
    return GraphCalls(ms)
