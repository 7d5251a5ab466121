"""Canonical events -> graph snapshot, aggregated by DuckDB SQL (out-of-core, multi-threaded).

All aggregation is SQL over one view, ``events`` (the canonical events of
:mod:`ingest.run`), built by the ``*_sql`` functions below, so that another engine (the
PySpark path) can mirror it statement by statement. The statements, in order:

1. :func:`pairs_sql`, once per relation, into a table ``pairs_<REL>``: one row per (account,
   entity) pair with additive sums (event count, first/last ts, amount sum and count, sums of
   the time-of-day unit vector, night events, sums of float attributes). It is the only pass
   over the events per relation; :func:`edge_sql` selects the snapshot's edge columns from it.
2. :func:`entity_nodes_sql`, once per entity type: each device, IP, payment method, ...
   aggregated from its pairs (events, distinct accounts, amounts, lifetime, time of day), plus
   its event types, active days and burstiness from one more pass over its events (each
   entity's timestamps sorted inside the aggregation).
3. :func:`account_nodes_sql`: every account that acts *or* appears as a counterparty, with its
   activity as actor (one pass over the events: counts per event type, amounts, active days,
   burstiness, time of day), as counterparty (from ``pairs_TRANSACTED_WITH``) and its distinct
   neighbours per relation (from the pairs).

Each result is written by DuckDB straight to the snapshot's Parquet files
(:func:`write_snapshot_files`); :func:`build_snapshot` reads them back into memory.

Feature conventions: counts are int64; other features float64; a feature that is undefined for a
node (the mean amount of an account that never paid) is 0, so every feature column is free of
nulls. Timestamps are UTC; days are UTC days.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from graph.snapshot import (
    ACCOUNT,
    NODE_KEY_COLUMNS,
    RELATIONS,
    Snapshot,
    make_manifest,
    new_snapshot_dir,
    publish_snapshot_dir,
    read_snapshot,
    relation_specs,
    write_snapshot,
)
from ingest.engine import connect
from ingest.labels import read_labels
from ingest.mapping import Mapping, load_mapping
from ingest.sql import ident, literal
from ingest.state import IngestState
from ingest.store import LABELS_FILE, event_files

#: Event types that get their own ``n_events_<type>`` count; rarer ones share ``n_events_other``.
MAX_EVENT_TYPES = 16
#: Hours (UTC) counted as night for ``night_fraction``.
NIGHT_HOURS = (0, 6)

#: Microseconds since the UTC midnight (integer arithmetic: no floating-point modulo per event).
_MICROS_OF_DAY = "(epoch_us(ts) % 86400000000)"


@dataclass(frozen=True)
class RelationSource:
    """One relation out of ``Account``: its name, target node type and event column."""

    name: str
    node_type: str
    column: str


class BuildError(ValueError):
    """The events directory holds no events, or its content does not fit the snapshot."""


def build_inputs(
    events_dir: Path, mapping: Mapping | str | os.PathLike[str] | None
) -> tuple[Mapping | None, list[Path], IngestState]:
    """The loaded mapping, the event files and the ingest state of ``events_dir``.

    Shared by every engine that builds a snapshot (DuckDB here, Spark in :mod:`graph.spark_build`).
    Raises :class:`BuildError` when ``events_dir`` holds no events.
    """
    if mapping is not None and not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping)
    files = event_files(events_dir)
    if not files:
        raise BuildError(
            f"{events_dir} holds no events (no day=*/ Parquet files); run `abusenet ingest` first"
        )
    state = IngestState.load(events_dir)
    if mapping is not None:
        state.add_schema(mapping)
    return mapping, files, state


def build_snapshot(
    events_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | pd.DataFrame | None = None,
    mapping: Mapping | str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Snapshot:
    """Aggregate the canonical events in ``events_dir`` into a graph snapshot at ``out_dir``.

    :func:`write_snapshot_files`, then the written snapshot read back into memory (after
    DuckDB has let go of its memory, so the peak is the larger of the two, not their sum).

    Parameters
    ----------
    events_dir
        An events directory written by :func:`ingest.run.ingest_logs`.
    out_dir
        The snapshot directory; replaced atomically.
    labels
        Canonical labels (a DataFrame ``account_id, label[, ts]``) or a labels file (read with
        ``mapping``'s labels section). Default: ``events_dir/labels.parquet`` when present.
        Only labels of accounts in the graph are kept.
    mapping
        Adds its extra entity types to those recorded in the events directory.
    progress
        Show the current step on stderr.

    Returns
    -------
    Snapshot
        The snapshot as written; its ``meta`` holds input checksums and event counts.

    Raises
    ------
    BuildError
        When ``events_dir`` holds no events.
    """
    write_snapshot_files(events_dir, out_dir, labels=labels, mapping=mapping, progress=progress)
    return read_snapshot(out_dir)


def write_snapshot_files(
    events_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    labels: str | os.PathLike[str] | pd.DataFrame | None = None,
    mapping: Mapping | str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Like :func:`build_snapshot`, but returns only the manifest: no table is held in memory.

    DuckDB aggregates the events (spilling beyond ``ABUSENET_DUCKDB_MEMORY``) and writes each
    node and edge table straight to Parquet, so memory stays within DuckDB's budget whatever the
    size of the graph. The snapshot directory is filled beside ``out_dir`` and renamed into
    place (see :func:`graph.snapshot.publish_snapshot_dir`).
    """
    started = time.perf_counter()
    events_dir, out_dir = Path(events_dir), Path(out_dir)
    mapping, files, state = build_inputs(events_dir, mapping)
    relations = relation_sources(state)
    float_attributes = [a for a, kind in state.attributes.items() if kind == "float"]
    label_table = snapshot_labels(events_dir, labels, mapping)

    target = new_snapshot_dir(out_dir)
    con = connect(target / ".spill")
    try:
        with _Steps(progress) as step:
            step("reading events")
            columns = _register_events(con, files)
            relations = [r for r in relations if r.column in columns]
            float_attributes = [a for a in float_attributes if a in columns]
            by_type = _events_by_type(con)
            event_types = [row[0] for row in by_type[:MAX_EVENT_TYPES]]

            for rel in relations:
                step(f"pairs {rel.name}")
                con.execute(f"CREATE TEMP TABLE {ident('pairs_' + rel.name)} AS "
                            f"{pairs_sql(rel, float_attributes)}")
            relations = [r for r in relations if _count(con, "pairs_" + r.name)]

            nodes: dict[str, tuple[int, list[str]]] = {}
            for rel in relations:
                if rel.node_type != ACCOUNT:
                    step(f"nodes {rel.node_type}")
                    nodes[rel.node_type] = _copy_table(
                        con, entity_nodes_sql(rel, event_types), target / "nodes" / rel.node_type)
            step("nodes Account")
            nodes[ACCOUNT] = _copy_table(
                con, account_nodes_sql(event_types, relations, float_attributes),
                target / "nodes" / ACCOUNT)
            edges: dict[str, int] = {}
            for rel in relations:
                step(f"edges {rel.name}")
                edges[rel.name] = _copy_table(con, edge_sql(rel), target / "edges" / rel.name)[0]
                con.execute(f"DROP TABLE {ident('pairs_' + rel.name)}")
            meta = _meta(by_type, state, files, event_types)
            label_facts = None
            if label_table is not None:
                step("labels")
                label_facts = _copy_labels(con, label_table, target, meta)
        con.close()
        shutil.rmtree(target / ".spill", ignore_errors=True)
        meta["build_seconds"] = round(time.perf_counter() - started, 3)
        extra = {r.name: (ACCOUNT, r.node_type) for r in relations if r.name not in RELATIONS}
        specs = relation_specs(extra)
        manifest = make_manifest(nodes, {r.name: (specs[r.name], edges[r.name])
                                         for r in relations}, label_facts, meta)
        publish_snapshot_dir(target, out_dir, manifest)
    except BaseException:
        con.close()
        shutil.rmtree(target, ignore_errors=True)
        raise
    return manifest


def _copy_table(con: duckdb.DuckDBPyConnection, sql: str, stem: Path) -> tuple[int, list[str]]:
    """Write the rows of ``sql`` to ``<stem>.parquet``; return (row count, feature columns).

    No string dictionaries, as in :func:`graph.snapshot.write_table`.
    """
    path = stem.with_suffix(".parquet")
    count = con.execute(
        f"COPY ({sql}) TO {literal(str(path))} (FORMAT parquet, "
        "STRING_DICTIONARY_PAGE_SIZE_LIMIT 1)"
    ).fetchall()[0][0]
    features = [f.name for f in pq.read_schema(path)
                if f.name not in NODE_KEY_COLUMNS
                and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))]
    return int(count), features


def _copy_labels(
    con: duckdb.DuckDBPyConnection, table: pd.DataFrame, target: Path, meta: dict[str, Any]
) -> tuple[int, int]:
    """Write the labels of accounts in the graph to ``labels.parquet``, in their given order;
    return (labels kept, positives) and count the others in ``meta``."""
    con.register("labels_given", table.assign(_position=range(len(table))))
    accounts = literal(str(target / "nodes" / f"{ACCOUNT}.parquet"))
    con.execute(
        "CREATE TEMP TABLE labels_kept AS SELECT * FROM labels_given "
        f"WHERE account_id IN (SELECT id FROM read_parquet({accounts}))"
    )
    kept, positives = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE label = 1) FROM labels_kept"
    ).fetchall()[0]
    meta["labels_without_events"] = len(table) - int(kept)
    con.execute(
        "COPY (SELECT * EXCLUDE (_position) FROM labels_kept ORDER BY _position) TO "
        f"{literal(str(target / 'labels.parquet'))} (FORMAT parquet)"
    )
    con.unregister("labels_given")
    return int(kept), int(positives)


def finish_snapshot(
    out_dir: Path,
    nodes: dict[str, pd.DataFrame],
    edges: dict[str, pd.DataFrame],
    relations: list[RelationSource],
    meta: dict,
    *,
    events_dir: Path,
    labels: str | os.PathLike[str] | pd.DataFrame | None,
    mapping: Mapping | None,
    started: float,
) -> Snapshot:
    """Attach the labels of accounts in the graph, then write the snapshot atomically.

    The last step of every engine that builds a snapshot (DuckDB here, Spark in
    :mod:`graph.spark_build`), so both write the same manifest and label table.
    """
    label_table = snapshot_labels(events_dir, labels, mapping)
    if label_table is not None:
        known = label_table["account_id"].isin(nodes[ACCOUNT]["id"])
        meta["labels_without_events"] = int((~known).sum())
        label_table = label_table[known].reset_index(drop=True)
    meta["build_seconds"] = round(time.perf_counter() - started, 3)
    extra = {r.name: (ACCOUNT, r.node_type) for r in relations if r.name not in RELATIONS}
    specs = relation_specs(extra)
    snapshot = Snapshot(
        nodes=nodes,
        edges=edges,
        relations={r.name: specs[r.name] for r in relations},
        labels=label_table,
        meta=meta,
    )
    write_snapshot(snapshot, out_dir)
    return snapshot


# --------------------------------------------------------------------------------------------
# The aggregation, as SQL over the view ``events``.
# --------------------------------------------------------------------------------------------


def pairs_sql(rel: RelationSource, float_attributes: list[str]) -> str:
    """Per (account, entity) pair of ``rel``: additive sums over the events that join them.

    Columns: ``src, dst, count, first_ts, last_ts, amount_sum, amount_n`` (events with an
    amount); for a relation to an entity type (whose nodes :func:`entity_nodes_sql` builds
    from these sums) also ``amount_max``, ``tod_cos, tod_sin`` (sums of the hour-of-day unit
    vector) and ``n_night``; for ``TRANSACTED_WITH`` ``attr_<name>_sum, attr_<name>_n`` per
    float attribute.
    """
    col = ident(rel.column)
    attrs = "".join(
        f", sum({ident(a)}) AS {ident(f'attr_{a}_sum')}, count({ident(a)}) AS "
        f"{ident(f'attr_{a}_n')}"
        for a in (float_attributes if rel.column == "counterparty_id" else [])
    )
    # Accounts' own activity comes from their events, not from pairs: no entity-only sums.
    entity = ("" if rel.node_type == ACCOUNT
              else f", max(amount) AS amount_max, {_time_of_day_sums()}")
    return f"""
        SELECT account_id AS src, {col} AS dst, count(*) AS count,
               min(ts) AS first_ts, max(ts) AS last_ts,
               coalesce(sum(amount), 0.0) AS amount_sum, count(amount) AS amount_n
               {entity}
               {attrs}
        FROM events
        WHERE {col} IS NOT NULL
        GROUP BY account_id, {col}
    """


def edge_sql(rel: RelationSource) -> str:
    """The snapshot's edge table of ``rel``, from its pairs table (in no particular order)."""
    return f"""
        SELECT src, dst, count, first_ts, last_ts, amount_sum
        FROM {ident('pairs_' + rel.name)}
    """


def entity_nodes_sql(rel: RelationSource, event_types: list[str], *, spark: bool = False) -> str:
    """Nodes of an entity type (the target of ``rel``), aggregated from its pairs.

    Features: ``n_events``, ``n_events_<type>`` per frequent event type and
    ``n_events_other`` (as for accounts), ``n_accounts`` (distinct accounts),
    ``events_per_account``, ``amount_sum``, ``amount_mean`` (over events with an amount),
    ``amount_max``, ``active_days`` (distinct UTC days with an event),
    ``events_per_active_day``, ``lifetime_days``, ``burstiness`` (as for accounts, over the
    entity's events by all accounts), ``tod_spread``, ``night_fraction``. The per-type counts,
    ``active_days`` and ``burstiness`` come from one more pass over the events, grouped by
    entity (gaps and distinct days do not add up over pairs). ``spark``: in Spark SQL's
    dialect where the two differ (see :func:`_with_timeline_stats`).
    """
    col = ident(rel.column)
    names = event_type_features(event_types)
    return f"""
        WITH days AS ({_with_timeline_stats(
            f"SELECT {col} AS dst, {', '.join(_type_counts(event_types))}, {_TIMELINE} "
            f"FROM events WHERE {col} IS NOT NULL GROUP BY {col}", spark=spark)}),
        totals AS (
            SELECT dst, min(first_ts) AS first_ts, max(last_ts) AS last_ts,
                   CAST(sum(count) AS BIGINT) AS n_events, count(*) AS n_accounts,
                   sum(amount_sum) AS amount_sum, sum(amount_n) AS amount_n,
                   max(amount_max) AS amount_max, sum(tod_cos) AS tod_cos,
                   sum(tod_sin) AS tod_sin, sum(n_night) AS n_night
            FROM {ident('pairs_' + rel.name)}
            GROUP BY dst
        )
        SELECT t.dst AS id, first_ts, last_ts, n_events,
               {''.join(ident(n) + ', ' for n in names)}
               {_other_count(event_types, 'n_events', 'd')} AS n_events_other,
               n_accounts, n_events / n_accounts AS events_per_account,
               amount_sum,
               coalesce(amount_sum / nullif(amount_n, 0), 0.0) AS amount_mean,
               coalesce(amount_max, 0.0) AS amount_max,
               active_days,
               CAST(n_events AS DOUBLE) / active_days AS events_per_active_day,
               (epoch(last_ts) - epoch(first_ts)) / 86400.0 AS lifetime_days,
               {_burstiness('d')} AS burstiness,
               {_tod_spread('tod_cos', 'tod_sin', 'n_events')} AS tod_spread,
               n_night / n_events AS night_fraction
        FROM totals t JOIN days d ON t.dst = d.dst
        ORDER BY id
    """


def account_nodes_sql(
    event_types: list[str], relations: list[RelationSource], float_attributes: list[str],
    *, spark: bool = False,
) -> str:
    """``Account`` nodes: every account that acts or is a counterparty, with features.

    Features as actor: ``n_events``, ``n_events_<type>`` per frequent event type and
    ``n_events_other``, ``amount_out_sum / _mean / _max / _std``, ``active_days``,
    ``lifetime_days``, ``events_per_active_day``, ``burstiness`` (Goh-Barabasi coefficient of
    the gaps between consecutive events, in [-1, 1]; 0 with fewer than 3 events),
    ``tod_spread`` (1 - mean resultant length of the hour of day: 0 = always the same hour),
    ``night_fraction``, ``attr_<name>_mean`` per float attribute. As counterparty:
    ``n_in_events``, ``amount_in_sum``, ``amount_in_mean``, ``attr_<name>_in_mean``.
    Neighbours: ``deg_<relation>`` (distinct entities per relation; for ``TRANSACTED_WITH``,
    ``deg_transacted_with_out`` and ``deg_transacted_with_in``). ``spark``: in Spark SQL's
    dialect where the two differ.
    """
    type_counts = _type_counts(event_types)
    attr_out = [f"avg({ident(a)}) AS {ident(f'attr_{a}_mean')}" for a in float_attributes]
    transacted = next((r for r in relations if r.column == "counterparty_id"), None)

    acted = f"""
        SELECT account_id AS id, min(ts) AS first_ts, max(ts) AS last_ts,
               count(*) AS n_events, {', '.join(type_counts)},
               coalesce(sum(amount), 0.0) AS amount_out_sum,
               coalesce(avg(amount), 0.0) AS amount_out_mean,
               coalesce(max(amount), 0.0) AS amount_out_max,
               coalesce(stddev_pop(amount), 0.0) AS amount_out_std,
               {_TIMELINE},
               {_time_of_day_sums()}
               {''.join(', ' + a for a in attr_out)}
        FROM events GROUP BY account_id
    """
    ctes = [f"acted AS ({_with_timeline_stats(acted, spark=spark)})"]
    attr_in = [
        f"sum({ident(f'attr_{a}_sum')}) / nullif(sum({ident(f'attr_{a}_n')}), 0) AS "
        f"{ident(f'attr_{a}_in_mean')}"
        for a in float_attributes
    ]
    if transacted is not None:
        ctes.append(
            f"""received AS (
            SELECT dst AS id, min(first_ts) AS first_ts, max(last_ts) AS last_ts,
                   CAST(sum(count) AS BIGINT) AS n_in_events, sum(amount_sum) AS amount_in_sum,
                   sum(amount_sum) / nullif(sum(amount_n), 0) AS amount_in_mean
                   {''.join(', ' + a for a in attr_in)}
            FROM {ident('pairs_' + transacted.name)} GROUP BY dst
        )"""
        )
    else:
        ctes.append(
            "received AS (SELECT CAST(NULL AS VARCHAR) AS id, CAST(NULL AS TIMESTAMPTZ) AS "
            "first_ts, CAST(NULL AS TIMESTAMPTZ) AS last_ts, CAST(0 AS BIGINT) AS n_in_events, "
            "CAST(0 AS DOUBLE) AS amount_in_sum, CAST(0 AS DOUBLE) AS amount_in_mean"
            + "".join(f", CAST(0 AS DOUBLE) AS {ident(f'attr_{a}_in_mean')}"
                      for a in float_attributes)
            + " WHERE false)"
        )
    degree_joins, degree_cols = [], []
    for rel in relations:
        pairs = ident("pairs_" + rel.name)
        name = rel.name.lower()
        sides = [("out", "src"), ("in", "dst")] if rel is transacted else [("", "src")]
        for side, key in sides:
            cte = f"deg_{name}_{side}" if side else f"deg_{name}"
            ctes.append(f"{cte} AS (SELECT {key} AS id, count(*) AS d FROM {pairs} GROUP BY {key})")
            degree_joins.append(f"LEFT JOIN {cte} USING (id)")
            degree_cols.append(f"coalesce({cte}.d, 0) AS {cte}")

    counts = ["n_events", *event_type_features(event_types)]
    amounts = ["amount_out_sum", "amount_out_mean", "amount_out_max", "amount_out_std"]
    select = [
        "id",
        "CASE WHEN a.first_ts IS NULL THEN r.first_ts WHEN r.first_ts IS NULL THEN a.first_ts "
        "ELSE least(a.first_ts, r.first_ts) END AS first_ts",
        "CASE WHEN a.last_ts IS NULL THEN r.last_ts WHEN r.last_ts IS NULL THEN a.last_ts "
        "ELSE greatest(a.last_ts, r.last_ts) END AS last_ts",
        *(f"coalesce(a.{ident(c)}, 0) AS {ident(c)}" for c in counts),
        f"coalesce({_other_count(event_types, 'a.n_events', 'a')}, 0) AS n_events_other",
        "coalesce(a.active_days, 0) AS active_days",
        *(f"coalesce(a.{c}, 0.0) AS {c}" for c in amounts),
        f"coalesce({_lifetime_days('a')}, 0.0) AS lifetime_days",
        "coalesce(CAST(a.n_events AS DOUBLE) / a.active_days, 0.0) AS events_per_active_day",
        f"coalesce({_burstiness('a')}, 0.0) AS burstiness",
        f"coalesce({_tod_spread('a.tod_cos', 'a.tod_sin', 'a.n_events')}, 0.0) AS tod_spread",
        "coalesce(a.n_night / a.n_events, 0.0) AS night_fraction",
        *(f"coalesce(a.{ident(f'attr_{x}_mean')}, 0.0) AS {ident(f'attr_{x}_mean')}"
          for x in float_attributes),
        "coalesce(r.n_in_events, 0) AS n_in_events",
        "coalesce(r.amount_in_sum, 0.0) AS amount_in_sum",
        "coalesce(r.amount_in_mean, 0.0) AS amount_in_mean",
        *(f"coalesce(r.{ident(f'attr_{x}_in_mean')}, 0.0) AS {ident(f'attr_{x}_in_mean')}"
          for x in float_attributes),
        *degree_cols,
    ]
    return f"""
        WITH {', '.join(ctes)}
        SELECT {', '.join(select)}
        FROM acted a
        FULL OUTER JOIN received r USING (id)
        {' '.join(degree_joins)}
        ORDER BY id
    """


def event_type_features(event_types: list[str]) -> list[str]:
    """Feature names ``n_events_<slug>`` for ``event_types``, unique and SQL/Python friendly."""
    names: list[str] = []
    for t in event_types:
        slug = re.sub(r"[^0-9a-z]+", "_", t.lower()).strip("_") or "blank"
        name, k = f"n_events_{slug}", 2
        while name in names or name == "n_events_other":
            name, k = f"n_events_{slug}_{k}", k + 1
        names.append(name)
    return names


def _type_counts(event_types: list[str]) -> list[str]:
    """``n_events_<type>`` per frequent event type, as aggregates (see :func:`_other_count`)."""
    return [
        f"count(*) FILTER (WHERE event_type = {literal(t)}) AS {ident(name)}"
        for t, name in zip(event_types, event_type_features(event_types), strict=True)
    ]


def _other_count(event_types: list[str], n_events: str, alias: str) -> str:
    """``n_events_other``: the events of ``alias`` not of a frequent type, by subtraction.

    ``event_type`` is never null (ingest quarantines such rows), so ``n_events`` minus the
    frequent types' counts is exact, and costs no aggregate (a ``NOT IN`` count over all
    events cost about a quarter of the per-type counts).
    """
    counts = "".join(f" - {alias}.{ident(n)}" for n in event_type_features(event_types))
    return f"{n_events}{counts}"


def _time_of_day_sums() -> str:
    """Sums of the hour-of-day unit vector and the count of night events (additive)."""
    angle = f"2 * pi() * {_MICROS_OF_DAY} / 86400000000.0"
    night = f"{_MICROS_OF_DAY} >= {NIGHT_HOURS[0] * 3_600_000_000} AND {_MICROS_OF_DAY} < " \
            f"{NIGHT_HOURS[1] * 3_600_000_000}"
    return (
        f"sum(cos({angle})) AS tod_cos, sum(sin({angle})) AS tod_sin, "
        f"count(*) FILTER (WHERE {night}) AS n_night"
    )


#: Aggregate: the epoch seconds of a group's events, sorted (for :func:`_with_timeline_stats`).
_TIMELINE = "array_sort(array_agg(epoch(ts))) AS times"


def _with_timeline_stats(query: str, *, spark: bool) -> str:
    """``query`` (one row per node with its :data:`_TIMELINE` ``times``) plus, from ``times``:
    ``gap_n``, ``gap_mean``, ``gap_sd`` (of the gaps between consecutive events, null without
    gaps) and ``active_days`` (distinct UTC days).

    Sorting each node's timestamps inside the aggregation costs less than a window over all
    events in (node, time) order. DuckDB and Spark SQL differ in list syntax, hence ``spark``.
    """
    if spark:
        def at(index: str) -> str:
            return f"element_at(times, {index})"

        def over_gaps(term: str) -> str:
            return (f"CASE WHEN gap_n > 0 THEN aggregate(sequence(1, gap_n), CAST(0 AS DOUBLE), "
                    f"(acc, i) -> acc + {term.format(prev=at('i'), next=at('i + 1'))}) ELSE 0 END")
        size = "size(times)"
    else:
        def at(index: str) -> str:
            return f"times[{index}]"

        def over_gaps(term: str) -> str:
            return (f"coalesce(list_sum(list_transform(range(1, gap_n + 1), "
                    f"lambda i: {term.format(prev=at('i'), next=at('i + 1'))})), 0)")
        size = "len(times)"
    day_changes = over_gaps("CASE WHEN floor({next} / 86400) <> floor({prev} / 86400) "
                            "THEN 1 ELSE 0 END")
    squares = over_gaps("pow({next} - {prev} - gap_mean, 2)")
    return f"""
        SELECT *, CASE WHEN gap_n > 0 THEN sqrt({squares} / gap_n) END AS gap_sd,
               CAST(1 + {day_changes} AS BIGINT) AS active_days
        FROM (SELECT *, CASE WHEN gap_n > 0 THEN ({at('gap_n + 1')} - {at('1')}) / gap_n END
                        AS gap_mean
              FROM (SELECT *, {size} - 1 AS gap_n FROM ({query})))
    """


def _burstiness(alias: str) -> str:
    """Goh-Barabasi burstiness (sd - mean) / (sd + mean) of the gaps; 0 with < 2 gaps."""
    sd, mean, n = (f"{alias}.gap_{x}" for x in ("sd", "mean", "n"))
    return f"CASE WHEN {n} >= 2 AND {sd} + {mean} > 0 THEN ({sd} - {mean}) / ({sd} + {mean}) " \
           "ELSE 0.0 END"


def _tod_spread(cos_sum: str, sin_sum: str, n: str) -> str:
    """1 - the mean resultant length of the hour-of-day angles (circular variance)."""
    return f"1 - sqrt(pow({cos_sum} / {n}, 2) + pow({sin_sum} / {n}, 2))"


def _lifetime_days(alias: str) -> str:
    return f"(epoch({alias}.last_ts) - epoch({alias}.first_ts)) / 86400.0"


# --------------------------------------------------------------------------------------------


def relation_sources(state: IngestState) -> list[RelationSource]:
    sources = [RelationSource(name, dst, col) for name, (_, dst, col) in RELATIONS.items()]
    sources += [
        RelationSource(spec["relation"], node_type, spec["column"])
        for node_type, spec in sorted(state.entities.items())
    ]
    return sources


def _register_events(con: duckdb.DuckDBPyConnection, files: list[Path]) -> set[str]:
    """Create the ``events`` view over ``files``; return its columns."""
    con.execute(
        f"CREATE VIEW events AS SELECT * FROM read_parquet({literal([str(p) for p in files])}, "
        "union_by_name = true, hive_partitioning = false)"
    )
    return {row[0] for row in con.execute("DESCRIBE events").fetchall()}


def _events_by_type(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int, Any, Any]]:
    """``(event_type, count, first ts, last ts)`` per event type, most frequent first."""
    return con.execute(
        "SELECT event_type, count(*), min(ts), max(ts) FROM events GROUP BY event_type "
        "ORDER BY 2 DESC, 1"
    ).fetchall()


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {ident(table)}").fetchall()[0][0])


def _meta(
    by_type: list[tuple[str, int, Any, Any]],
    state: IngestState,
    files: list[Path],
    event_types: list[str],
) -> dict[str, Any]:
    first = min((row[2] for row in by_type), default=None)
    last = max((row[3] for row in by_type), default=None)
    return {
        "events": {
            "count": sum(row[1] for row in by_type),
            "first_ts": first.isoformat() if first else None,
            "last_ts": last.isoformat() if last else None,
            "by_type": {row[0]: row[1] for row in by_type},
            "files": len(files),
            "rows": sum(pq.ParquetFile(p).metadata.num_rows for p in files),
        },
        "event_type_features": dict(
            zip(event_types, event_type_features(event_types), strict=True)
        ),
        "inputs": [
            {"sha256": key.split(":")[0], "mapping": key.split(":")[1], **facts}
            for key, facts in sorted(state.files.items())
        ],
    }


def snapshot_labels(
    events_dir: Path,
    labels: str | os.PathLike[str] | pd.DataFrame | None,
    mapping: Mapping | None,
) -> pd.DataFrame | None:
    if isinstance(labels, pd.DataFrame):
        table = labels.copy()
    elif labels is not None:
        table = read_labels(labels, mapping).to_pandas()
    elif (events_dir / LABELS_FILE).is_file():
        table = pd.read_parquet(events_dir / LABELS_FILE)
    else:
        return None
    if "ts" not in table.columns:
        table["ts"] = pd.Series(pd.NaT, index=table.index, dtype="datetime64[us, UTC]")
    table["account_id"] = table["account_id"].astype(str)
    table["label"] = table["label"].astype("int8")
    return table[["account_id", "label", "ts"]]


class _Steps:
    """Context manager yielding ``step(description)``, shown on stderr as a status line."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._status: Any = None

    def __enter__(self):
        if self._enabled:
            from rich.console import Console

            self._status = Console(stderr=True).status("building snapshot")
            self._status.__enter__()
        return self._step

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(*exc)

    def _step(self, description: str) -> None:
        if self._status is not None:
            self._status.update(f"building snapshot: {description}")
