"""Opening the Neo4j store for a command, and turning its failures into one error line."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from graph.store import Neo4jStore

log = logging.getLogger(__name__)

#: ``--neo4j-uri``'s help, the same on every command that talks to Neo4j.
NEO4J_URI_HELP = (
    "Neo4j to use (e.g. bolt://host:7687). Default: $NEO4J_URI, else the local server of "
    "`abusenet neo4j install`. User and password come from $NEO4J_USER / $NEO4J_PASSWORD, or the "
    "local server's password file."
)


class CommandFailed(typer.Exit):
    """Exit code 1 after an error line; ``message`` is what the line said."""

    def __init__(self, message: str) -> None:
        super().__init__(1)
        self.message = message


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` in red on stderr and exit with code 1.

    Raises
    ------
    CommandFailed
        Always; its ``message`` is ``message``.
    """
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise CommandFailed(message)


def open_store(neo4j_uri: str | None) -> Neo4jStore:
    """A connected, verified store for ``--neo4j-uri`` (or the configured default).

    Raises
    ------
    CommandFailed
        When no Neo4j is configured, the settings are wrong or the server cannot be reached;
        the error line says what to set or start.
    """
    from graph.store import connect
    from graph.store.connection import (
        Neo4jConfigError,
        local_server_for,
        redact_uri,
        resolve_neo4j_settings,
    )

    try:
        settings = resolve_neo4j_settings(uri=neo4j_uri)
    except Neo4jConfigError as err:
        fail(str(err))
    if settings is None:
        fail(
            "no Neo4j is configured: pass --neo4j-uri, set NEO4J_URI (and NEO4J_PASSWORD), or "
            "set up the local server with `abusenet neo4j install` and `abusenet neo4j start`"
        )
    server = local_server_for(settings)
    log.info("connecting to Neo4j at %s (user %s, database %s, %s)", redact_uri(settings.uri),
             settings.user, settings.database, "the local server" if server else "not local")
    store = connect(settings, server=server)
    try:
        store.verify()
    except Exception as err:
        store.close()
        fail_on_neo4j_error(err, store, "connecting")
    return store


def fail_on_neo4j_error(err: Exception, store: Neo4jStore, doing: str, then: str = "") -> NoReturn:
    """Exit with the one translation of a Neo4j failure; re-raise anything else.

    A connection, login or database failure gets
    :func:`graph.store.connection.explain_neo4j_error`'s message; any other server error says
    ``"<doing> failed on the server: <its message><then>"``, and a driver error (a URI it
    refuses) its message with any ``user:password@`` redacted.

    Raises
    ------
    CommandFailed
        For a Neo4j server or driver error.
    Exception
        ``err`` itself when it is neither.
    """
    import neo4j

    from graph.store.connection import explain_neo4j_error, redact_uri

    message = explain_neo4j_error(err, store.settings)
    if message is None and isinstance(err, neo4j.exceptions.Neo4jError):
        message = f"{doing} failed on the server: {err.message}{then}"
    elif message is None and isinstance(err, neo4j.exceptions.DriverError):
        message = f"{doing} failed in the Neo4j driver: {redact_uri(str(err))}"
    if message is None:
        raise err
    fail(message)
