"""Where abusenet keeps its state, and how it finds the Neo4j it talks to.

Connection settings are resolved in this order, first match wins, field by field:

1. the environment: ``NEO4J_URI``, ``NEO4J_USER``, ``NEO4J_PASSWORD``, ``NEO4J_DATABASE``;
2. the ``neo4j:`` section of a config file (``uri``, ``user``, ``database``; never a password);
3. the local server that ``abusenet neo4j install`` set up: its URI and its password file.

Secrets never come from code and are never printed: :class:`Neo4jSettings` hides the password in
its ``repr``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Environment variable naming the state directory (default ``.abusenet`` in the working dir).
HOME_ENV = "ABUSENET_HOME"


def state_dir() -> Path:
    """The directory for abusenet's local state (Neo4j server, caches)."""
    return Path(os.environ.get(HOME_ENV, ".abusenet")).resolve()


def default_neo4j_home() -> Path:
    """Where ``abusenet neo4j install`` puts the local server unless told otherwise."""
    return state_dir() / "neo4j"


@dataclass(frozen=True)
class Neo4jSettings:
    """How to reach a Neo4j server. The password is kept out of ``repr`` and logs."""

    uri: str
    user: str = "neo4j"
    password: str | None = field(default=None, repr=False)
    database: str = "neo4j"

    @property
    def auth(self) -> tuple[str, str] | None:
        """The ``(user, password)`` pair for the driver, or ``None`` without a password."""
        return None if self.password is None else (self.user, self.password)


def resolve_neo4j_settings(
    config: dict[str, Any] | None = None,
    *,
    uri: str | None = None,
    neo4j_home: Path | None = None,
) -> Neo4jSettings | None:
    """Work out the Neo4j connection, or ``None`` when no server is configured anywhere.

    Parameters
    ----------
    config
        The ``neo4j:`` section of a config file, if any.
    uri
        An explicit URI (e.g. from ``--neo4j-uri``); it wins over everything else.
    neo4j_home
        The local server's home; defaults to :func:`default_neo4j_home`.
    """
    from graph.store.server.local import LocalNeo4j

    config = config or {}
    local = LocalNeo4j(neo4j_home or default_neo4j_home())
    local_cfg = local.read_settings() if local.is_installed() else None

    chosen_uri = uri or os.environ.get("NEO4J_URI") or config.get("uri")
    if chosen_uri is None and local_cfg is not None:
        chosen_uri = local_cfg["uri"]
    if chosen_uri is None:
        return None
    password = os.environ.get("NEO4J_PASSWORD")
    if password is None and local_cfg is not None and chosen_uri == local_cfg["uri"]:
        password = local.read_password()
    return Neo4jSettings(
        uri=chosen_uri,
        user=os.environ.get("NEO4J_USER") or config.get("user") or "neo4j",
        password=password,
        database=os.environ.get("NEO4J_DATABASE") or config.get("database") or "neo4j",
    )
