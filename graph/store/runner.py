"""A small interface between the store's logic and the Neo4j driver.

Loading, write-back and the query pack talk to a :class:`QueryRunner`: ``write`` runs statements
in one managed write transaction (retried by the driver on transient errors, so every statement
must be idempotent), ``read`` runs one query in a managed read transaction carrying metadata.
:class:`Neo4jStore` implements it on a real driver; unit tests use a recording fake, integration
tests the real server. One store holds one long-lived driver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from graph.store.connection import Neo4jSettings, redact_uri

if TYPE_CHECKING:
    import neo4j

    from graph.store.server.local import LocalNeo4j

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Rows:
    """The result of a query: column names and one tuple per record."""

    columns: list[str]
    records: list[tuple[Any, ...]]

    def column(self, name: str) -> list[Any]:
        """All values of column ``name``."""
        i = self.columns.index(name)
        return [r[i] for r in self.records]

    def single(self, name: str) -> Any:
        """The value of ``name`` in the only record (``None`` when there is none)."""
        return self.records[0][self.columns.index(name)] if self.records else None


class QueryRunner(Protocol):
    """What the store's logic needs from a database connection."""

    def write(
        self, statements: Sequence[tuple[str, Params]], *,
        on_retry: Sequence[tuple[str, Params]] | None = None,
    ) -> list[Rows]:
        """Run ``(query, params)`` statements in order in one managed write transaction.

        ``on_retry``, when given, replaces ``statements`` on every attempt after the first: a
        retry cannot know whether the failed attempt committed, so a ``CREATE`` becomes a
        ``MERGE`` there.
        """
        ...

    def read(
        self, query: str, params: Params | None = None, *,
        metadata: Mapping[str, Any] | None = None, timeout: float | None = None,
    ) -> Rows:
        """Run one query in a managed read transaction tagged with ``metadata``."""
        ...


class Neo4jStore:
    """A :class:`QueryRunner` on a real Neo4j server; also a context manager.

    Parameters
    ----------
    settings
        Where the server is and how to log in.
    server
        The local server behind ``settings``, when abusenet manages it: needed only for the bulk
        import, which stops and restarts it.
    """

    def __init__(self, settings: Neo4jSettings, server: LocalNeo4j | None = None) -> None:
        self.settings = settings
        self.server = server
        self._driver: neo4j.Driver | None = None

    @property
    def database(self) -> str:
        """The database name all work goes to."""
        return self.settings.database

    @property
    def driver(self) -> neo4j.Driver:
        """The store's driver, created on first use."""
        if self._driver is None:
            import neo4j

            settings = self.settings
            try:
                self._driver = neo4j.GraphDatabase.driver(
                    settings.uri, auth=settings.auth,
                    # A first load asks about labels that do not exist yet: not worth a warning.
                    notifications_disabled_classifications=["UNRECOGNIZED"],
                    # Bounded: a dead or absent server is reported in seconds, not minutes.
                    max_transaction_retry_time=settings.retry_seconds,
                    connection_timeout=settings.connect_timeout,
                    connection_acquisition_timeout=2 * settings.connect_timeout,
                )
            except neo4j.exceptions.ConfigurationError as err:
                # The driver's message quotes the URI, password included.
                raise neo4j.exceptions.ConfigurationError(redact_uri(str(err))) from None
        return self._driver

    def write(
        self, statements: Sequence[tuple[str, Params]], *,
        on_retry: Sequence[tuple[str, Params]] | None = None,
    ) -> list[Rows]:
        """Run the statements in one managed write transaction (retried as a whole).

        See :meth:`QueryRunner.write` for ``on_retry``.
        """
        attempts = 0

        def work(tx: neo4j.ManagedTransaction) -> list[Rows]:
            nonlocal attempts
            attempts += 1
            todo = on_retry if attempts > 1 and on_retry is not None else statements
            return [_collect(tx.run(query, dict(params))) for query, params in todo]

        with self.driver.session(database=self.database) as session:
            return session.execute_write(work)

    def read(
        self, query: str, params: Params | None = None, *,
        metadata: Mapping[str, Any] | None = None, timeout: float | None = None,
    ) -> Rows:
        """Run ``query`` in a managed read transaction; ``metadata`` shows in SHOW TRANSACTIONS."""
        import neo4j

        @neo4j.unit_of_work(metadata=dict(metadata) if metadata else None, timeout=timeout)
        def work(tx: neo4j.ManagedTransaction) -> Rows:
            return _collect(tx.run(query, dict(params or {})))

        with self.driver.session(database=self.database) as session:
            return session.execute_read(work)

    def verify(self) -> None:
        """Raise the driver's error when the server cannot be reached or refuses the login."""
        self.driver.verify_connectivity()

    def reconnect(self) -> None:
        """Drop the driver (e.g. after the server restarted); the next call opens a new one."""
        self.close()

    def close(self) -> None:
        """Close the driver."""
        if self._driver is not None:
            self._driver.close()
            self._driver = None

    def __enter__(self) -> Neo4jStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Neo4jStore(uri={redact_uri(self.settings.uri)!r}, database={self.database!r})"


def connect(settings: Neo4jSettings, *, server: LocalNeo4j | None = None) -> Neo4jStore:
    """Open a store on the server ``settings`` name; use it as a context manager.

    Parameters
    ----------
    settings
        Connection settings (see :func:`graph.store.connection.resolve_neo4j_settings`).
    server
        The local server behind ``settings`` if abusenet manages it; enables bulk import.

    Examples
    --------
    >>> with connect(settings) as store:                      # doctest: +SKIP
    ...     load_snapshot(store, "out/snapshot")
    """
    return Neo4jStore(settings, server=server)


def _collect(result: neo4j.Result) -> Rows:
    columns = list(result.keys())
    return Rows(columns, [tuple(record) for record in result])
