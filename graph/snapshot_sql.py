"""The snapshot's aggregation, as SQL text over one view, ``events``.

``events`` holds the canonical events of :mod:`ingest.run`. The statements are built here, once,
so that every engine runs the same text: DuckDB as written (:mod:`graph.build`), Spark after a
translation (:mod:`graph.spark_build`). In the order an engine runs them:

1. :func:`pairs_sql`, once per relation, into a table ``pairs_<REL>``: one row per (account,
   entity) pair with additive sums (event count, first/last ts, amount sum and count, sums of
   the time-of-day unit vector, night events, counts per event type, sums of float
   attributes). It is the only pass over the events per relation; :func:`edge_sql` selects
   the snapshot's edge columns from it.
2. :func:`entity_nodes_sql`, once per entity type: each device, IP, payment method, ...
   aggregated from its pairs (events by type, distinct accounts, amounts, lifetime, time of
   day), plus its active days and burstiness from one more pass over its events' keys and
   times (each entity's timestamps in time order: :func:`_timeline_query`).
3. :func:`account_nodes_sql`: every account that acts *or* appears as a counterparty, with its
   activity as actor (one pass over the events: counts per event type, amounts, active days,
   burstiness, time of day), as counterparty (from ``pairs_TRANSACTED_WITH``) and its distinct
   neighbours per relation (from the pairs). A string attribute with few values
   (:func:`attribute_values_sql` finds them) adds, per value, the share of the account's events
   carrying a value that carry that one.

Feature conventions: counts are int64; other features float64; a feature that is undefined for a
node (the mean amount of an account that never paid) is 0, so every feature column is free of
nulls. Timestamps are UTC; days are UTC days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graph.snapshot import ACCOUNT, RELATIONS
from ingest.sql import ident, literal
from ingest.state import IngestState

#: Event types that get their own ``n_events_<type>`` count; rarer ones share ``n_events_other``.
MAX_EVENT_TYPES = 16
#: A string attribute with at most this many distinct values in the events a snapshot is built
#: from gets one share feature per value (:func:`attribute_share_features`); one with more gets
#: none (a text such as a user agent or a free-text note is no category).
MAX_ATTRIBUTE_VALUES = 16
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


def relation_sources(state: IngestState) -> list[RelationSource]:
    """The relations a snapshot of ``state``'s events may hold: the built-in ones, then one per
    entity type the ingest recorded (sorted by type)."""
    sources = [RelationSource(name, dst, col) for name, (_, dst, col) in RELATIONS.items()]
    sources += [
        RelationSource(spec["relation"], node_type, spec["column"])
        for node_type, spec in sorted(state.entities.items())
    ]
    return sources


def pairs_sql(rel: RelationSource, float_attributes: list[str],
              event_types: list[str]) -> str:
    """Per (account, entity) pair of ``rel``: additive sums over the events that join them.

    Columns: ``src, dst, count, first_ts, last_ts, amount_sum, amount_n`` (events with an
    amount); for a relation to an entity type (whose nodes :func:`entity_nodes_sql` builds
    from these sums) also ``amount_max``, ``tod_cos, tod_sin`` (sums of the hour-of-day unit
    vector), ``n_night`` and ``n_events_<type>`` per frequent type of ``event_types``; for
    ``TRANSACTED_WITH`` ``attr_<name>_sum, attr_<name>_n`` per float attribute.
    """
    col = ident(rel.column)
    attrs = "".join(
        f", sum({ident(a)}) AS {ident(f'attr_{a}_sum')}, count({ident(a)}) AS "
        f"{ident(f'attr_{a}_n')}"
        for a in (float_attributes if rel.column == "counterparty_id" else [])
    )
    # Accounts' own activity comes from their events, not from pairs: no entity-only sums.
    entity = ("" if rel.node_type == ACCOUNT
              else f", max(amount) AS amount_max, {_time_of_day_sums()}"
                   + "".join(f", {c}" for c in _type_counts(event_types)))
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
    """The snapshot's edge table of ``rel``, from its pairs table, in (src, dst) order: a
    parallel aggregate hands its groups back in a different order each time, and what reads
    the edges (entity codes, ties in the ring search) must see the same table on a rerun."""
    return f"""
        SELECT src, dst, count, first_ts, last_ts, amount_sum
        FROM {ident('pairs_' + rel.name)}
        ORDER BY src, dst
    """


def entity_nodes_sql(rel: RelationSource, event_types: list[str], *, spark: bool = False) -> str:
    """Nodes of an entity type (the target of ``rel``), aggregated from its pairs.

    Features: ``n_events``, ``n_events_<type>`` per frequent event type and
    ``n_events_other`` (as for accounts), ``n_accounts`` (distinct accounts),
    ``events_per_account``, ``amount_sum``, ``amount_mean`` (over events with an amount),
    ``amount_max``, ``active_days`` (distinct UTC days with an event),
    ``events_per_active_day``, ``lifetime_days``, ``burstiness`` (as for accounts, over the
    entity's events by all accounts), ``tod_spread``, ``night_fraction``. ``active_days`` and
    ``burstiness`` come from one more pass over the events' entity and time, grouped by
    entity (gaps and distinct days do not add up over pairs); the rest adds up over the pairs
    of :func:`pairs_sql` with the same ``event_types``. ``spark``: in Spark SQL's dialect
    where the two differ (see :func:`_timeline_query`).
    """
    col = ident(rel.column)
    names = event_type_features(event_types)
    return f"""
        WITH days AS ({_timeline_query(col, "dst", "", where=f"{col} IS NOT NULL",
                                       spark=spark)}),
        totals AS (
            SELECT dst, min(first_ts) AS first_ts, max(last_ts) AS last_ts,
                   CAST(sum(count) AS BIGINT) AS n_events, count(*) AS n_accounts,
                   {''.join(f'CAST(sum({ident(n)}) AS BIGINT) AS {ident(n)}, ' for n in names)}
                   sum(amount_sum) AS amount_sum, sum(amount_n) AS amount_n,
                   max(amount_max) AS amount_max, sum(tod_cos) AS tod_cos,
                   sum(tod_sin) AS tod_sin, sum(n_night) AS n_night
            FROM {ident('pairs_' + rel.name)}
            GROUP BY dst
        )
        SELECT t.dst AS id, first_ts, last_ts, n_events,
               {''.join(ident(n) + ', ' for n in names)}
               {_other_count(event_types, 'n_events', 't')} AS n_events_other,
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
    *, attribute_shares: dict[str, dict[str, str]] | None = None, spark: bool = False,
) -> str:
    """``Account`` nodes: every account that acts or is a counterparty, with features.

    Features as actor: ``n_events``, ``n_events_<type>`` per frequent event type and
    ``n_events_other``, ``amount_out_sum / _mean / _max / _std``, ``active_days``,
    ``lifetime_days``, ``events_per_active_day``, ``burstiness`` (Goh-Barabasi coefficient of
    the gaps between consecutive events, in [-1, 1]; 0 with fewer than 3 events),
    ``tod_spread`` (1 - mean resultant length of the hour of day: 0 = always the same hour),
    ``night_fraction``, ``attr_<name>_mean`` per float attribute, and per value of a string
    attribute of ``attribute_shares`` (name -> value -> feature,
    :func:`attribute_share_features`) the share of the account's events with a value of that
    attribute that hold this one, matched exactly (0 without such events; a value not among
    them counts in no share but in the denominator). As counterparty:
    ``n_in_events``, ``amount_in_sum``, ``amount_in_mean``, ``attr_<name>_in_mean``.
    Neighbours: ``deg_<relation>`` (distinct entities per relation; for ``TRANSACTED_WITH``,
    ``deg_transacted_with_out`` and ``deg_transacted_with_in``). ``spark``: in Spark SQL's
    dialect where the two differ.
    """
    type_counts = _type_counts(event_types)
    attr_out = [f"avg({ident(a)}) AS {ident(f'attr_{a}_mean')}" for a in float_attributes]
    shares = [(a, value, column) for a, columns in (attribute_shares or {}).items()
              for value, column in columns.items()]
    attr_out += [f"CAST(count(*) FILTER (WHERE {ident(a)} = {literal(value)}) AS DOUBLE) / "
                 f"nullif(count({ident(a)}), 0) AS {ident(column)}" for a, value, column in shares]
    transacted = next((r for r in relations if r.column == "counterparty_id"), None)

    acted = f"""
               min(ts) AS first_ts, max(ts) AS last_ts,
               count(*) AS n_events, {', '.join(type_counts)},
               coalesce(sum(amount), 0.0) AS amount_out_sum,
               coalesce(avg(amount), 0.0) AS amount_out_mean,
               coalesce(max(amount), 0.0) AS amount_out_max,
               coalesce(stddev_pop(amount), 0.0) AS amount_out_std,
               {_time_of_day_sums()}
               {''.join(', ' + a for a in attr_out)}
    """
    ctes = [f"acted AS ({_timeline_query('account_id', 'id', acted, spark=spark)})"]
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
                   sum(amount_sum) / nullif(sum(amount_n), 0) AS amount_in_mean,
                   count(*) AS deg_in
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
    # Every relation's out-degree from one aggregate over all pairs' sources, tagged by
    # relation (one shuffle and one join on Spark, not one per relation); TRANSACTED_WITH's
    # in-degree (its pairs per receiver) comes with ``received``.
    out_degrees = [f"deg_{r.name.lower()}_out" if r is transacted else f"deg_{r.name.lower()}"
                   for r in relations]
    degree_cols = []
    for rel, out in zip(relations, out_degrees, strict=True):
        degree_cols.append(f"coalesce(g.{out}, 0) AS {out}")
        if rel is transacted:
            degree_cols.append(f"coalesce(r.deg_in, 0) AS deg_{rel.name.lower()}_in")
    degree_join = ""
    if relations:
        sources = " UNION ALL ".join(f"SELECT src AS id, {i} AS rel FROM {ident('pairs_' + r.name)}"
                                     for i, r in enumerate(relations))
        per_relation = ", ".join(f"count(*) FILTER (WHERE rel = {i}) AS {out}"
                           for i, out in enumerate(out_degrees))
        ctes.append(f"degrees AS (SELECT id, {per_relation} FROM ({sources}) GROUP BY id)")
        degree_join = "LEFT JOIN degrees g USING (id)"

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
        *(f"coalesce(a.{ident(c)}, 0.0) AS {ident(c)}" for _, _, c in shares),
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
        {degree_join}
        ORDER BY id
    """


def event_type_features(event_types: list[str]) -> list[str]:
    """Feature names ``n_events_<slug>`` for ``event_types``, unique and SQL/Python friendly."""
    names: list[str] = []
    for t in event_types:
        names.append(_unique(f"n_events_{_slug(t)}", "", names + ["n_events_other"]))
    return names


def attribute_values_sql(name: str) -> str:
    """The values of string attribute ``name`` in ``events``, most frequent first (ties by
    value), at most :data:`MAX_ATTRIBUTE_VALUES` + 1 rows: ``value, n`` and ``distinct_n``
    (how many distinct values it has in all)."""
    column = ident(name)
    return f"""
        SELECT value, n, count(*) OVER () AS distinct_n
        FROM (SELECT {column} AS value, count(*) AS n FROM events
              WHERE {column} IS NOT NULL GROUP BY {column})
        ORDER BY n DESC, value
        LIMIT {MAX_ATTRIBUTE_VALUES + 1}
    """


def attribute_share_features(values: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """Feature names ``attr_<name>_is_<slug>_share`` per string attribute and value (``values``:
    name -> its values in order), unique across them and SQL/Python friendly: ``<slug>`` is the
    value lower-cased with every run of other characters than a-z and 0-9 one ``_`` (``blank``
    when nothing is left), and a name taken already gets ``_2``, ``_3``, ..."""
    taken: list[str] = []
    out: dict[str, dict[str, str]] = {}
    for name, texts in values.items():
        out[name] = {}
        for text in texts:
            column = _unique(f"attr_{name}_is_{_slug(text)}", "_share", taken)
            taken.append(column)
            out[name][text] = column
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_") or "blank"


def _unique(stem: str, suffix: str, taken: list[str]) -> str:
    """``stem + suffix``, or with ``_2``, ``_3``, ... after ``stem`` when that is in ``taken``."""
    name, k = stem + suffix, 2
    while name in taken:
        name, k = f"{stem}_{k}{suffix}", k + 1
    return name


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


def _timeline_query(key: str, alias: str, aggregates: str, *, where: str = "",
                    spark: bool) -> str:
    """One row per ``key`` of ``events`` (named ``alias``; ``where`` filters the events): the
    ``aggregates`` (SQL select items, or none: ``""``) plus the node's timeline: ``gap_n``,
    ``gap_mean``, ``gap_sd`` (of the gaps in seconds between consecutive events, null without
    gaps) and ``active_days`` (distinct UTC days).

    Both engines collect each node's timestamps in the aggregation and sort them there
    (DuckDB: ``array_sort(array_agg(...))``, Spark: ``sort_array(collect_list(...))``, a
    sort of primitive doubles per node), then read the figures off the sorted list:
    ``gap_mean`` from its ends, ``gap_sd`` and ``active_days`` by one walk over its
    neighbours (DuckDB: list lambdas, :func:`_with_timeline_stats`; Spark: ``aggregate``
    over ``sequence``, :func:`_with_spark_timeline_stats`). On Spark this replaced a window
    (``lag`` over the events sorted by node and time: one sort of every event row, the
    costliest step of the snapshot) by a hash aggregate, which the caller runs without
    partial aggregation and with a raised sort-based fallback threshold
    (:data:`graph.spark_build.TIMELINE_CONF`); 10M events, the account timeline alone,
    alternated in one JVM, loaded: 18.2 / 14.7 -> 8.4 / 8.1 executor CPU s.
    """
    filtered = f"FROM events WHERE {where}" if where else "FROM events"
    aggregates = f"{aggregates}, " if aggregates else ""
    if not spark:
        return _with_timeline_stats(
            f"SELECT {key} AS {alias}, {aggregates}array_sort(array_agg(epoch(ts))) AS times "
            f"{filtered} GROUP BY {key}")
    return _with_spark_timeline_stats(
        f"SELECT {key} AS {alias}, {aggregates}sort_array(collect_list(epoch(ts))) AS times "
        f"{filtered} GROUP BY {key}")


def _with_spark_timeline_stats(query: str) -> str:
    """:func:`_with_timeline_stats` in functions Spark has: ``element_at`` (1-based in both
    dialects, unlike ``[]``, whose offset the translation moves for literals only) and
    ``aggregate`` over ``sequence(1, gap_n)`` (guarded: ``sequence(1, 0)`` counts down)."""
    def over_gaps(zero: str, term: str) -> str:
        step = term.format(prev="element_at(times, i)", next="element_at(times, i + 1)")
        return f"aggregate(sequence(1, gap_n), {zero}, lambda acc, i: acc + {step})"
    day_changes = over_gaps("CAST(0 AS BIGINT)", "CASE WHEN floor({next} / 86400) <> "
                            "floor({prev} / 86400) THEN 1 ELSE 0 END")
    squares = over_gaps("CAST(0 AS DOUBLE)", "pow({next} - {prev} - gap_mean, 2)")
    return f"""
        SELECT *, CASE WHEN gap_n > 0 THEN sqrt({squares} / gap_n) END AS gap_sd,
               1 + CASE WHEN gap_n > 0 THEN {day_changes} ELSE 0 END AS active_days
        FROM (SELECT *, CASE WHEN gap_n > 0
                             THEN (element_at(times, -1) - element_at(times, 1)) / gap_n END
                        AS gap_mean
              FROM (SELECT *, size(times) - 1 AS gap_n FROM ({query})))
    """


def _with_timeline_stats(query: str) -> str:
    """``query`` (one row per node with ``times``, its events' epoch seconds sorted) plus, from
    ``times``: ``gap_n``, ``gap_mean``, ``gap_sd`` and ``active_days`` (DuckDB's lists)."""
    def at(index: str) -> str:
        return f"times[{index}]"

    def over_gaps(term: str) -> str:
        return (f"coalesce(list_sum(list_transform(range(1, gap_n + 1), "
                f"lambda i: {term.format(prev=at('i'), next=at('i + 1'))})), 0)")
    day_changes = over_gaps("CASE WHEN floor({next} / 86400) <> floor({prev} / 86400) "
                            "THEN 1 ELSE 0 END")
    squares = over_gaps("pow({next} - {prev} - gap_mean, 2)")
    return f"""
        SELECT *, CASE WHEN gap_n > 0 THEN sqrt({squares} / gap_n) END AS gap_sd,
               CAST(1 + {day_changes} AS BIGINT) AS active_days
        FROM (SELECT *, CASE WHEN gap_n > 0 THEN ({at('gap_n + 1')} - {at('1')}) / gap_n END
                        AS gap_mean
              FROM (SELECT *, len(times) - 1 AS gap_n FROM ({query})))
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
