"""Constraints and indexes: created once, safe to run again.

Every node label gets a uniqueness constraint on ``(graph, id)`` (a node is identified by its id
within its graph, see :mod:`graph.store.graphs`; the constraint also gives ``MERGE`` and lookups
an index), every label that can be scored an index on ``risk_score``, ``Ring`` an index on
``score``, and ``LoadRun`` one on ``graph``. The uniqueness constraint on ``id`` alone that
stores written before graph names hold (``<label>_id``) is dropped: it would stop a second graph
from holding the same id. All statements use ``IF [NOT] EXISTS``, so running them again changes
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from graph.store.graphs import LOAD_RUN
from graph.store.names import BUILTIN_LABELS, RING, node_label
from graph.store.runner import QueryRunner

#: Seconds to wait for new indexes to come online before loading.
INDEX_WAIT_S = 300


def schema_statements(labels: Iterable[str]) -> list[str]:
    """The Cypher statements that set up the schema for ``labels`` (plus the built-in ones).

    Parameters
    ----------
    labels
        Node labels of the snapshot; each is checked by :func:`~graph.store.names.node_label`.
    """
    statements = []
    for label in sorted({*BUILTIN_LABELS, *(node_label(x) for x in labels)}):
        lower = label.lower()
        statements.append(f"DROP CONSTRAINT {lower}_id IF EXISTS")
        statements.append(
            f"CREATE CONSTRAINT {lower}_graph_id IF NOT EXISTS FOR (n:`{label}`) "
            "REQUIRE (n.graph, n.id) IS UNIQUE"
        )
        column = "score" if label == RING else "risk_score"
        statements.append(
            f"CREATE INDEX {lower}_{column} IF NOT EXISTS FOR (n:`{label}`) ON (n.{column})"
        )
    statements.append(
        f"CREATE INDEX {LOAD_RUN.lower()}_graph IF NOT EXISTS FOR (n:{LOAD_RUN}) ON (n.graph)"
    )
    return statements


def ensure_schema(runner: QueryRunner, labels: Iterable[str] = ()) -> list[str]:
    """Create the missing constraints and indexes and wait until they are online.

    Each statement runs in its own transaction (schema and data changes cannot share one).
    Neo4j 5.26 accepts them all in one transaction, and then fills the plain indexes in one
    population job, but after a bulk import of 1M accounts that took as long or longer (server
    CPU 11.3-12.8 s against 10.9 s), since each uniqueness constraint's index is filled while
    its own statement runs either way. Returns the statements run.
    """
    statements = schema_statements(labels)
    for statement in statements:
        runner.write([(statement, {})])
    runner.write([("CALL db.awaitIndexes($seconds)", {"seconds": INDEX_WAIT_S})])
    return statements
