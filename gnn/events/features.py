"""Time-aware event features, one DuckDB query over the canonical events and event labels.

Every feature of an event uses only what was known strictly before the event's time: the
history of its account and of each entity it touched, and the labels whose ``known_at`` is
earlier than the event. A label learnt later never changes an event's features.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from gnn.events.compromise import (
    CompromiseIndex,
    CompromiseSettings,
    holder_column,
    holder_labels,
)
from gnn.events.history import KeyHistory, key_codes
from gnn.events.source import (
    Events,
    Labels,
    discover_entity_columns,
    register_events,
    register_labels,
    view_columns,
)
from gnn.events.table import EventFeatures
from ingest.engine import connect
from ingest.sql import ident

#: History windows, in days.
WINDOWS = (1, 7, 30)
#: How long a visit to an entity later known as fraudulent counts for the visitor, in days.
NEIGHBOUR_DAYS = 30
#: Frauds learnt within this many days before an event are counted apart (recent knowledge).
RECENT_DAYS = 7
#: A label without ``known_at`` is taken as known this many days after its event.
DEFAULT_LABEL_DELAY_DAYS = 7.0

_STRICT_PRIOR = "RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL 1 MICROSECOND PRECEDING"


def short(column: str) -> str:
    """The feature-name prefix of a key column (``account_id`` -> ``acc``)."""
    return "acc" if column == "account_id" else column


def event_features(
    events: Events,
    event_labels: Labels | None = None,
    *,
    entity_columns: Sequence[str] | None = None,
    windows: Sequence[int] = WINDOWS,
    neighbour_days: int = NEIGHBOUR_DAYS,
    default_label_delay_days: float = DEFAULT_LABEL_DELAY_DAYS,
    compromise: CompromiseSettings | None = None,
    entity_labels: pd.DataFrame | None = None,
) -> EventFeatures:
    """Features of every event, from the events and the labels known before each one.

    Parameters
    ----------
    events
        An events directory (day files) or a table with ``event_id, ts, account_id`` and
        optional ``amount`` and entity columns.
    event_labels
        ``event_id, label`` (1 = fraud) and optionally ``known_at``; ``None``: no label-aware
        features are informative (they are all 0).
    entity_columns
        The entity columns to use; default: found from the data
        (:func:`gnn.events.source.discover_entity_columns`).
    windows
        History windows in days.
    neighbour_days
        How long a visit counts for the two-hop risk.
    default_label_delay_days
        When a label without ``known_at`` is taken as known, after its event.
    compromise
        Windows of the common-point-of-compromise features
        (:class:`gnn.events.compromise.CompromiseSettings`); ``None``: its defaults.
    entity_labels
        ``node_type, entity_id, label, known_at`` (:func:`gnn.entities.labels.check_entity_labels`
        form): those of the holder's node type (cards reported compromised) anchor the
        common-point-of-compromise evidence from their ``known_at`` on
        (:func:`gnn.events.compromise.holder_labels`); ``None``: only the event labels do.

    Returns
    -------
    EventFeatures
        Own features (log amount, hour, night, weekend); the account's history (counts and
        mean amount per window, events before, time since its previous event, amount against
        its usual, first use of each entity); each entity's history (counts and distinct
        accounts per window, events before); for the account and each entity, how many of
        its earlier events were known as fraud before the event, their share among its
        labels known by then and how many became known in the last :data:`RECENT_DAYS` days;
        and for every ordered pair of key columns (H, V), how many of
        H's visits to a V in the last ``neighbour_days`` went to a V with a fraud known
        before the event (e.g. a card's visits to terminals known as compromised, a
        terminal's recent cards known as stolen), with its share of H's events then; and the
        common-point-of-compromise evidence (:meth:`CompromiseIndex.event_evidence`, the
        holder being ``payment_id`` when present, else ``account_id``) of the event's own
        entities and of those its card visited recently, as of the start of its day.
    """
    con = connect(memory_share=0.5)
    try:
        register_events(con, events)
        entities = (
            list(entity_columns) if entity_columns is not None
            else discover_entity_columns(con, events)
        )
        columns = view_columns(con, "events")
        unknown = [c for c in entities if c not in columns]
        if unknown:
            raise ValueError(f"entity column(s) {unknown} not in the events: {sorted(columns)}")
        register_labels(con, event_labels, default_delay_days=default_label_delay_days)
        span = sorted({*windows, neighbour_days})
        con.execute(f"CREATE TEMP TABLE b AS {_base_sql(entities, 'amount' in columns)}")
        con.execute(
            "CREATE TEMP TABLE labelled AS SELECT b.*, l.label, l.known_at "
            "FROM b JOIN event_labels l USING (event_id)"
        )
        ids = con.sql(
            "SELECT " + ", ".join(f"b.{ident(c)}" for c in ["event_id", "ts", "account_id",
                                                            *entities])
            + ", l.label, l.known_at FROM b LEFT JOIN labelled l USING (rid) ORDER BY rid"
        ).to_arrow_table().to_pandas()
        amounts, _ = _fetch(con, "SELECT amount, log_amount FROM b ORDER BY rid",
                            ["amount", "log_amount"])
        blocks = [_history_block(ids, amounts, entities, span)] + [
            _fetch(con, sql, names)
            for sql, names in _queries(entities, span, neighbour_days, (RECENT_DAYS,))
        ]
    finally:
        con.close()
    blocks.append(_compromise_block(ids, entities, compromise, default_label_delay_days,
                                    entity_labels))
    names = [n for _, block_names in blocks for n in block_names]
    x = np.hstack([block for block, _ in blocks]) if blocks else np.empty((len(ids), 0))
    x = _with_hop_shares(x.astype(np.float32), names, neighbour_days)
    ids["label"] = ids["label"].astype("float64")
    return EventFeatures(ids, x, names + [f"{n}_share" for n in names if "_via_" in n],
                         entities)


def _compromise_block(
    ids: pd.DataFrame, entities: list[str], settings: CompromiseSettings | None,
    default_label_delay_days: float, entity_labels: pd.DataFrame | None,
) -> tuple[np.ndarray, list[str]]:
    """The common-point-of-compromise features of every event (``ids`` order); none when the
    events have no entity column but the holder."""
    holder = holder_column(entities)
    points = [e for e in entities if e != holder]
    if not points:
        return np.empty((len(ids), 0), dtype=np.float32), []
    settings = settings or CompromiseSettings(default_label_delay_days=default_label_delay_days)
    labelled = ids[ids["label"].notna()]
    index = CompromiseIndex(ids, labelled[["event_id", "label", "known_at"]], holder=holder,
                            points=points, settings=settings,
                            reports=holder_labels(entity_labels, holder))
    evidence = index.event_evidence()
    return (np.stack(list(evidence.values()), axis=1).astype(np.float32), list(evidence))


def _fetch(con, sql: str, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """The columns ``names`` of ``sql`` (ordered by ``rid``) as a float32 matrix."""
    table = con.sql(sql).to_arrow_table()
    x = np.empty((table.num_rows, len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        x[:, j] = table.column(name).to_numpy(zero_copy_only=False).astype(np.float32)
    return x, names


def _history_block(
    ids: pd.DataFrame, amounts: np.ndarray, entities: list[str], windows: list[int]
) -> tuple[np.ndarray, list[str]]:
    """The account's and each entity's event counts before each event (all time and per
    window), the account's mean amounts, time since its previous event, amount against its
    usual, and whether the account uses each entity for the first time."""
    ts = ((ids["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)).to_numpy()
    amount, log_amount = amounts[:, 0].astype(np.float64), amounts[:, 1].astype(np.float64)
    columns: list[tuple[str, np.ndarray]] = []
    account = KeyHistory(key_codes(ids["account_id"]), ts)
    for key in ["account_id", *entities]:
        history = account if key == "account_id" else KeyHistory(key_codes(ids[key]), ts)
        columns.append((f"{short(key)}_n_prior", history.count()))
        for w in windows:
            columns.append((f"{short(key)}_n_{w}d", history.count(w)))
            if key == "account_id":
                columns.append((f"acc_mean_amount_{w}d", history.mean(amount, w)))
    columns += [
        ("acc_log_seconds_since_prev", np.log1p((ts - account.last_time()) / 1e6)),
        ("acc_amount_vs_usual", log_amount - account.mean(log_amount)),
    ]
    for e in entities:
        pair = KeyHistory(key_codes(ids["account_id"], ids[e]), ts)
        columns.append((f"acc_first_{e}", np.where(np.isnan(pair.count()), np.nan,
                                                    pair.count() == 0)))
    return (np.stack([c for _, c in columns], axis=1).astype(np.float32),
            [n for n, _ in columns])


def _with_hop_shares(x: np.ndarray, names: list[str], neighbour_days: int) -> np.ndarray:
    """``x`` with, per two-hop count ``H_via_V_risky_Dd``, its share of H's events in D days."""
    shares = []
    for j, name in enumerate(names):
        if "_via_" not in name:
            continue
        n = x[:, names.index(f"{name.split('_via_')[0]}_n_{neighbour_days}d")]
        with np.errstate(divide="ignore", invalid="ignore"):
            shares.append(np.where(n > 0, x[:, j] / n, np.nan).astype(np.float32))
    return np.hstack([x, np.stack(shares, axis=1)]) if shares else x


def _window(partition: str, days: int | None) -> str:
    start = "UNBOUNDED" if days is None else f"INTERVAL {days} DAY"
    return (
        f"(PARTITION BY {partition} ORDER BY ts RANGE BETWEEN {start} PRECEDING "
        "AND INTERVAL 1 MICROSECOND PRECEDING)"
    )


def _partition(column: str) -> str:
    """Partition keys of ``column``: an event without a value is alone in its partition (a
    window over one partition of all such events is costly and thrown away)."""
    return f"{column}, CASE WHEN {column} IS NULL THEN event_id END"


def _base_sql(entities: list[str], has_amount: bool) -> str:
    """The events with a row number ``rid`` in (ts, event_id) order, and their amount."""
    amount = "CAST(amount AS DOUBLE)" if has_amount else "CAST(NULL AS DOUBLE)"
    return (
        "SELECT row_number() OVER (ORDER BY ts, event_id) AS rid, event_id, "
        "CAST(ts AS TIMESTAMPTZ) AS ts, account_id, "
        + "".join(f"{ident(e)}, " for e in entities)
        + f"{amount} AS amount, ln(1 + greatest(coalesce({amount}, 0), 0)) AS log_amount "
        "FROM events"
    )


def _queries(
    entities: list[str], windows: list[int], neighbour_days: int, recent_days: Sequence[int],
) -> list[tuple[str, list[str]]]:
    """Narrow queries over the table ``b``, each ordered by ``rid``, with their feature names.

    Each label-aware lookup is its own ASOF join over ``(rid, ts, key)`` only, so no join
    sorts the wide feature rows.
    """
    keys = ["account_id", *entities]
    feats: list[tuple[str, str]] = [
        ("log_amount", "log_amount"),
        ("hour", "hour(ts)"),
        ("night", "CAST(hour(ts) < 6 AS INTEGER)"),
        ("weekend", "CAST(isodow(ts) >= 6 AS INTEGER)"),
    ]
    acc = ident("account_id")
    for e in entities:
        k, part = ident(e), _partition(ident(e))
        for w in windows:
            feats.append((f"{short(e)}_accounts_{w}d",
                          f"CASE WHEN {k} IS NULL THEN NULL "
                          f"ELSE count(DISTINCT {acc}) OVER {_window(part, w)} END"))
    queries = [(
        "SELECT " + ", ".join(f"{expr} AS {ident(n)}" for n, expr in feats)
        + " FROM b ORDER BY rid", [n for n, _ in feats],
    )]
    for key in keys:
        k, p = ident(key), short(key)
        known = (
            "(SELECT key, t, sum(f) OVER (PARTITION BY key ORDER BY t) AS fraud, "
            "sum(n) OVER (PARTITION BY key ORDER BY t) AS labelled FROM ("
            f"SELECT {k} AS key, known_at AS t, sum(label) AS f, count(*) AS n "
            f"FROM labelled WHERE {k} IS NOT NULL GROUP BY ALL))"
        )
        select = [
            (f"{p}_known_fraud", "CASE WHEN e.key IS NULL THEN NULL ELSE coalesce(m.fraud, 0) END"),
            (f"{p}_known_fraud_share", "m.fraud / nullif(m.labelled, 0)"),
        ]
        joins = ["ASOF LEFT JOIN m ON e.key = m.key AND e.ts > m.t"]
        for days in recent_days:
            joins.append(f"ASOF LEFT JOIN m AS m{days} ON e.key = m{days}.key "
                         f"AND e.ts - INTERVAL {days} DAY > m{days}.t")
            select.append((f"{p}_fraud_learnt_{days}d",
                           "CASE WHEN e.key IS NULL THEN NULL "
                           f"ELSE coalesce(m.fraud, 0) - coalesce(m{days}.fraud, 0) END"))
        queries.append((
            f"WITH m AS {known} SELECT "
            + ", ".join(f"{expr} AS {ident(n)}" for n, expr in select)
            + f" FROM (SELECT rid, ts, {k} AS key FROM b) e " + " ".join(joins)
            + " ORDER BY e.rid", [n for n, _ in select],
        ))
    span = f"INTERVAL {neighbour_days} DAY"
    for holder in keys:
        for visited in keys:
            if holder == visited:
                continue
            h, v = ident(holder), ident(visited)
            visits = (
                f"SELECT {h} AS h, min(ts) AS tv, max(fk.t) AS fk FROM b "
                f"JOIN (SELECT {v} AS v, min(known_at) AS t FROM labelled "
                f"WHERE label = 1 AND {v} IS NOT NULL GROUP BY ALL) fk ON b.{v} = fk.v "
                f"WHERE {h} IS NOT NULL GROUP BY {h}, {v}, epoch_us(ts) // 86400000000"
            )
            markers = (
                "(SELECT h AS key, t, sum(d) OVER (PARTITION BY h ORDER BY t) AS c "
                "FROM (SELECT h, t, sum(d) AS d FROM ("
                f"SELECT h, unnest([greatest(tv, fk), tv + {span}]) AS t, unnest([1, -1]) AS d "
                f"FROM ({visits}) WHERE greatest(tv, fk) < tv + {span}) GROUP BY ALL))"
            )
            name = f"{short(holder)}_via_{short(visited)}_risky_{neighbour_days}d"
            queries.append((
                f"WITH m AS {markers} SELECT CASE WHEN e.key IS NULL THEN NULL "
                f"ELSE coalesce(m.c, 0) END AS {ident(name)} "
                f"FROM (SELECT rid, ts, {h} AS key FROM b) e "
                "ASOF LEFT JOIN m ON e.key = m.key AND e.ts > m.t ORDER BY e.rid", [name],
            ))
    return queries
