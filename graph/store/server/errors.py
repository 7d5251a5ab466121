"""The one error the local server's install, start and stop raise."""

from __future__ import annotations


class Neo4jServerError(RuntimeError):
    """The local server could not be installed, started or stopped; the message says why."""
