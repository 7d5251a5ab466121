"""Common point of compromise (CPC): entities that many fraud-hit cards visited shortly before
their fraud, far more than the entity's traffic explains.

The field's technique for skimming: for every card (the *holder*, the payment entity) with a
known fraud, take the entities it visited in the ``lookback_days`` before its first known fraud
(the fraud itself included); an entity (a terminal, a device, an address: every other entity
column of the events) that appears in many such cards' recent histories is a likely compromise
point, found before its own transactions are charged back. Per entity and time ``t``:

- ``cpc_cards``: distinct holders with a fraud known before ``t``, their first known fraud in
  the ``history_days`` before ``t``, that visited it in the ``lookback_days`` up to that fraud;
- ``cpc_visitors``: distinct holders that visited it in the ``history_days`` before ``t`` (at
  least ``cpc_cards``);
- ``cpc_share``: ``cpc_cards / cpc_visitors``;
- ``cpc_surprise``: ``-log10 P(X >= cpc_cards)`` for ``X ~ Poisson(p * cpc_visitors)``, ``p``
  the share of all visits (holder, entity) that count at ``t``: how far the count is beyond what
  the entity's traffic explains (0 without any count).

Cards reported compromised (entity labels of the holder's node type, label 1: a card reported
stolen or skimmed, known about 5 days after its first misuse where a chargeback takes about 14)
count too, from their report on: such a card's visits in the ``report_lookback_days`` up to its
report count for the entities visited, like those of a card with a known fraud (a card counts
once per entity whichever way it was found).

Only labels with ``known_at`` strictly before ``t`` count (an event label without ``known_at`` is
taken as known ``default_label_delay_days`` after its event; a card report without one is not
used, as its time is unknown), so evidence as of ``t`` never uses what was learnt later.
:class:`CompromiseIndex` computes it for every day start at once (the event
features of :mod:`gnn.events.features` read it as of each event's day);
:func:`gnn.entities.evidence.with_compromise_evidence` adds it as node features for
:class:`gnn.entities.EntityRiskModel`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import poisson

#: The evidence of an entity, in order (:meth:`CompromiseIndex.at`).
COMPROMISE_COLUMNS = ("cpc_cards", "cpc_visitors", "cpc_share", "cpc_surprise")
#: The holder column when the events have no payment entity.
FALLBACK_HOLDER = "account_id"
#: The canonical payment (card) column.
PAYMENT_COLUMN = "payment_id"
#: The node type of a holder column's entities: their entity labels are the card reports.
HOLDER_TYPES = {PAYMENT_COLUMN: "PaymentMethod", FALLBACK_HOLDER: "Account"}

_US_PER_DAY = 86_400_000_000
_LN10 = float(np.log(10.0))
#: Key of a visit: holder code times this, plus whole seconds since the first day.
_SCALE = np.int64(1) << 35


@dataclass(frozen=True)
class CompromiseSettings:
    """Windows of the common-point-of-compromise evidence.

    Defaults chosen on the card world's seeds 1 and 2 (``benchmarks/README.md``, session 8),
    never on the benchmark's seed 0: a short lookback wins (the first known fraud of a card is
    often the purchase at the skimmer itself, or its use about a week later), a 60-day history
    (an old compromise fades slowly) and the card's last 14 days of visits for the event
    features.

    Attributes
    ----------
    lookback_days
        A holder's visits this many days before its first known fraud (and the fraud itself)
        count for the entities visited. Skimmed cards are used about a week after the visit.
    history_days
        An entity's visitors: distinct holders that visited it in this many days before ``t``;
        a holder counts for its visits when its first known fraud lies in this window too
        (an old compromise fades).
    recent_days
        Event feature: the highest surprise among the entities the event's holder visited in
        this many days before the event's day.
    report_lookback_days
        A holder reported compromised: its visits this many days before the report count (a
        report comes about 5 days after the first misuse, which follows the skimming by about
        a week).
    default_label_delay_days
        A label without ``known_at`` is taken as known this many days after its event.
    """

    lookback_days: float = 7.0
    history_days: float = 60.0
    recent_days: float = 14.0
    default_label_delay_days: float = 7.0
    report_lookback_days: float = 14.0

    def __post_init__(self) -> None:
        for name in ("lookback_days", "history_days", "recent_days", "report_lookback_days"):
            if not getattr(self, name) > 0:
                raise ValueError(f"CompromiseSettings.{name} must be > 0, not "
                                 f"{getattr(self, name)!r}")
        if self.default_label_delay_days < 0:
            raise ValueError("CompromiseSettings.default_label_delay_days must be >= 0, not "
                             f"{self.default_label_delay_days!r}")


def holder_column(columns: Sequence[str]) -> str:
    """The holder (card) column of events with ``columns``: ``payment_id`` when present, else
    ``account_id``."""
    return PAYMENT_COLUMN if PAYMENT_COLUMN in columns else FALLBACK_HOLDER


def holder_labels(entity_labels: pd.DataFrame | None, holder: str) -> pd.DataFrame | None:
    """The entity labels of ``holder``'s node type (:data:`HOLDER_TYPES`): the card reports.

    Parameters
    ----------
    entity_labels
        ``node_type, entity_id, label[, known_at]`` (:func:`gnn.entities.labels.check_entity_labels`
        form) or ``None``.
    holder
        The holder column (:func:`holder_column`).

    Returns
    -------
    pandas.DataFrame or None
        ``entity_id, label[, known_at]`` of that type; ``None`` without entity labels or a
        known node type for ``holder``.

    Raises
    ------
    ValueError
        If a column is missing.
    """
    if entity_labels is None or holder not in HOLDER_TYPES:
        return None
    missing = [c for c in ("node_type", "entity_id", "label") if c not in entity_labels]
    if missing:
        raise ValueError(f"entity labels lack column(s) {missing}; they have "
                         f"{list(entity_labels.columns)}")
    rows = entity_labels[entity_labels["node_type"] == HOLDER_TYPES[holder]]
    return rows.drop(columns="node_type").reset_index(drop=True)


def _micros(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    values = pd.to_datetime(ts, utc=True)
    return ((values - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)).to_numpy(
        np.int64)


class CompromiseIndex:
    """Common-point-of-compromise evidence of every entity of ``points`` at every day start.

    Parameters
    ----------
    events
        ``event_id, ts`` and the ``holder`` and ``points`` columns (missing values allowed).
    event_labels
        ``event_id, label`` (1 = fraud) and optionally ``known_at``; ``None``: no evidence.
    holder
        The column whose distinct values are the cards (the payment entity).
    points
        The entity columns whose entities may be compromise points (not ``holder``).
    settings
        The windows.
    until
        The latest time the evidence is wanted at (:meth:`at`); default: the day after the
        last event.
    reports
        Entity labels of the holders (:func:`holder_labels`): ``entity_id, label`` (1 =
        reported compromised) and ``known_at`` (a report without it is not used); ``None``:
        none.

    Attributes
    ----------
    day0
        Start (UTC midnight) of the first day; day ``d`` starts at ``day0 + d`` days.
    n_days
        Days covered: one past the last event's day.
    ids
        Per point column, its entity ids (the codes of :meth:`codes`).
    cards, visitors, surprise
        Per point column, ``(n_days + 1, n_entities)`` float32 arrays: row ``d`` is the
        evidence as of the start of day ``d`` (labels known strictly before it).

    Raises
    ------
    ValueError
        If a column is missing, ``holder`` is among ``points``, or a label is not 0 or 1
        (the message names the offending event or entity ids).
    """

    def __init__(
        self,
        events: pd.DataFrame,
        event_labels: pd.DataFrame | None,
        *,
        holder: str,
        points: Sequence[str],
        settings: CompromiseSettings | None = None,
        until: pd.Timestamp | str | None = None,
        reports: pd.DataFrame | None = None,
    ) -> None:
        self.settings = settings or CompromiseSettings()
        self.holder = holder
        self.points = list(points)
        if holder in self.points:
            raise ValueError(f"the holder column {holder!r} cannot also be a point column")
        missing = [c for c in ["event_id", "ts", holder, *self.points] if c not in events]
        if missing:
            raise ValueError(f"events lack column(s) {missing}; they have {list(events.columns)}")
        ts = _micros(events["ts"])
        self.day0 = pd.Timestamp(int(ts.min()) // _US_PER_DAY * _US_PER_DAY, unit="us",
                                 tz="UTC") if len(ts) else pd.Timestamp(0, tz="UTC")
        start = int(self.day0.value // 1000)
        self.n_days = int((ts.max() - start) // _US_PER_DAY + 1) if len(ts) else 0
        if until is not None:
            last = int(_micros(pd.Series([pd.Timestamp(until)]))[0])
            self.n_days = max(self.n_days, (last - start) // _US_PER_DAY)
        holder_codes, holder_ids = pd.factorize(events[holder], use_na_sentinel=True)
        self._holder_codes = holder_codes
        self._ts = ts
        self._visits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._point_codes: dict[str, np.ndarray] = {}
        self.ids: dict[str, np.ndarray] = {}
        self.cards: dict[str, np.ndarray] = {}
        self.visitors: dict[str, np.ndarray] = {}
        self.surprise: dict[str, np.ndarray] = {}
        fraud_ts, fraud_known, fraud_holder = self._frauds(events, event_labels, ts,
                                                           holder_codes)
        self._reports = self._reported(reports, pd.Index(holder_ids))
        for column in self.points:
            codes, uniques = pd.factorize(events[column], use_na_sentinel=True)
            self.ids[column] = np.asarray(uniques, dtype=object)
            self._point_codes[column] = codes
            keep = (codes >= 0) & (holder_codes >= 0)
            cards, visitors = self._counts(
                column, holder_codes[keep], codes[keep], ts[keep], len(uniques), start,
                (fraud_ts, fraud_known, fraud_holder))
            self.cards[column] = cards
            self.visitors[column] = visitors
            self.surprise[column] = _surprise(cards, visitors)

    def _frauds(self, events: pd.DataFrame, labels: pd.DataFrame | None, ts: np.ndarray,
                holder_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Time, known time and holder code of each fraud event with a holder."""
        empty = np.empty(0, dtype=np.int64)
        if labels is None or labels.empty:
            return empty, empty, empty
        label = _binary_labels(labels, "event_id", "event labels", "event ids")
        fraud = labels[label.to_numpy() == 1]
        rows = pd.Index(events["event_id"]).get_indexer(fraud["event_id"])
        found = rows >= 0
        rows = rows[found]
        delay = int(self.settings.default_label_delay_days * _US_PER_DAY)
        if "known_at" in fraud:
            known_at = pd.to_datetime(fraud["known_at"], utc=True)[found]
            known = np.where(known_at.isna().to_numpy(), ts[rows] + delay,
                             _micros(known_at.fillna(pd.Timestamp(0, tz="UTC"))))
        else:
            known = ts[rows] + delay
        has = holder_codes[rows] >= 0
        return ts[rows][has], known[has].astype(np.int64), holder_codes[rows][has]

    def _reported(self, reports: pd.DataFrame | None, holder_ids: pd.Index
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Known time and holder code of each reported holder with events and a
        ``known_at`` (its earliest report)."""
        empty = np.empty(0, dtype=np.int64)
        if reports is None or reports.empty:
            return empty, empty
        label = _binary_labels(reports, "entity_id", "card reports", "entity ids")
        if "known_at" not in reports:
            return empty, empty
        known_at = pd.to_datetime(reports["known_at"], utc=True)
        use = (label.to_numpy() == 1) & known_at.notna().to_numpy()
        codes = holder_ids.get_indexer(reports["entity_id"].astype(holder_ids.dtype)[use])
        known = _micros(known_at[use])[codes >= 0]
        first = pd.Series(known).groupby(codes[codes >= 0]).min()
        return first.to_numpy(np.int64), first.index.to_numpy(np.int64)

    def _anchors(self, day_start: int, frauds: tuple[np.ndarray, np.ndarray, np.ndarray],
                 by_known: np.ndarray, known_sorted: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Holder codes, anchor times (microseconds) and lookbacks (seconds) of the holders
        counting as of ``day_start``: the first known fraud of each holder with a fraud known
        before it, and the report of each holder reported before it, within the history."""
        fraud_ts, _, fraud_holder = frauds
        oldest = day_start - int(self.settings.history_days * _US_PER_DAY)
        which = by_known[:np.searchsorted(known_sorted, day_start, side="left")]
        anchor = pd.Series(fraud_ts[which]).groupby(fraud_holder[which]).min()
        anchor = anchor[anchor.to_numpy() >= oldest]
        report_known, report_holder = self._reports
        reported = (report_known < day_start) & (report_known >= oldest)
        holders = np.concatenate([anchor.index.to_numpy(np.int64), report_holder[reported]])
        times = np.concatenate([anchor.to_numpy(np.int64), report_known[reported]])
        backs = np.concatenate([
            np.full(len(anchor), int(self.settings.lookback_days * 86_400), dtype=np.int64),
            np.full(int(reported.sum()), int(self.settings.report_lookback_days * 86_400),
                    dtype=np.int64)])
        return holders, times, backs

    def _counts(self, column: str, holder: np.ndarray, point: np.ndarray, ts: np.ndarray,
                n_points: int, start: int,
                frauds: tuple[np.ndarray, np.ndarray, np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray]:
        """``cards`` and ``visitors`` as of every day start, ``(n_days + 1, n_points)``."""
        n_rows = self.n_days + 1
        cards = np.zeros((n_rows, n_points), dtype=np.float32)
        visitors = _visitors(holder, point, ts, n_points, start, n_rows,
                             self.settings.history_days)
        # One sorted key per visit: holder, then whole seconds since the first day.
        seconds = (ts - start) // 1_000_000
        order = np.lexsort((seconds, holder))
        sorted_key = holder[order].astype(np.int64) * _SCALE + seconds[order]
        sorted_point = point[order]
        self._visits[column] = (sorted_key, sorted_point)
        if (len(frauds[0]) == 0 and len(self._reports[0]) == 0) or len(ts) == 0:
            return cards, visitors
        scale = _SCALE
        by_known = np.argsort(frauds[1], kind="stable")
        known_sorted = frauds[1][by_known]
        for d in range(n_rows):
            h, anchor, back = self._anchors(start + d * _US_PER_DAY, frauds, by_known,
                                            known_sorted)
            if len(h) == 0:
                continue
            f = (anchor - start) // 1_000_000
            lo = np.searchsorted(sorted_key, h * scale + np.maximum(f - back, 0),
                                 side="left")
            hi = np.searchsorted(sorted_key, h * scale + f, side="right")
            length = hi - lo
            take = np.repeat(lo - np.cumsum(np.concatenate([[0], length[:-1]])), length) + \
                np.arange(length.sum())
            pairs = np.unique(np.repeat(h, length) * n_points + sorted_point[take])
            cards[d] = np.bincount(pairs % n_points, minlength=n_points)
        return cards, np.maximum(visitors, cards)

    def event_evidence(self) -> dict[str, np.ndarray]:
        """Evidence around each event of the events the index was built from, in their order,
        as of the start of the event's day (so only labels known before the event count).

        Returns
        -------
        dict
            Per point column ``V``: ``cpc_V_cards``, ``cpc_V_share`` and ``cpc_V_surprise`` of
            the event's own ``V`` entity (``nan`` without one), and ``H_recent_cpc_V_max`` /
            ``H_recent_cpc_V_sum``: the highest and the summed surprise of the distinct ``V``
            entities the event's holder ``H`` visited in the ``recent_days`` before the
            event's day (0 without such visits; ``nan`` without a holder).
        """
        day = self.day(pd.Series(pd.to_datetime(self._ts, unit="us", utc=True)))
        has_holder = self._holder_codes >= 0
        out: dict[str, np.ndarray] = {}
        for column in self.points:
            codes = self._point_codes[column]
            has = codes >= 0
            at = np.where(has, codes, 0)
            cards = self.cards[column][day, at].astype(np.float64)
            visitors = self.visitors[column][day, at].astype(np.float64)
            share = np.divide(cards, visitors, out=np.zeros_like(cards), where=visitors > 0)
            name = f"cpc_{column}"
            out[f"{name}_cards"] = np.where(has, cards, np.nan)
            out[f"{name}_share"] = np.where(has, share, np.nan)
            out[f"{name}_surprise"] = np.where(has, self.surprise[column][day, at], np.nan)
            top, total = self._recent(column, day)
            prefix = f"{self.holder}_recent_cpc_{column}"
            out[f"{prefix}_max"] = np.where(has_holder, top, np.nan)
            out[f"{prefix}_sum"] = np.where(has_holder, total, np.nan)
        return out

    def _recent(self, column: str, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per event, the highest and the summed surprise of the distinct entities its holder
        visited in ``[day start - recent_days, day start)``, as of that day start."""
        sorted_key, sorted_point = self._visits[column]
        recent = int(self.settings.recent_days * 86_400)
        top = np.zeros(len(day), dtype=np.float64)
        total = np.zeros(len(day), dtype=np.float64)
        holder = self._holder_codes.astype(np.int64)
        for d in np.unique(day):
            rows = np.flatnonzero((day == d) & (holder >= 0))
            if len(rows) == 0:
                continue
            base = holder[rows] * _SCALE
            lo = np.searchsorted(sorted_key, base + max(int(d) * 86_400 - recent, 0), "left")
            hi = np.searchsorted(sorted_key, base + int(d) * 86_400, "left")
            length = hi - lo
            if length.sum() == 0:
                continue
            take = np.repeat(lo - np.cumsum(np.concatenate([[0], length[:-1]])), length) + \
                np.arange(length.sum())
            owner = np.repeat(np.arange(len(rows)), length)
            pairs = np.unique(owner * len(self.ids[column]) + sorted_point[take])
            value = self.surprise[column][d][pairs % len(self.ids[column])].astype(np.float64)
            who = pairs // len(self.ids[column])
            np.maximum.at(top, rows[who], value)
            np.add.at(total, rows[who], value)
        return top, total

    def day(self, ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
        """Row of the evidence as of the start of each time's day (clipped to the index)."""
        start = int(self.day0.value // 1000)
        return np.clip((_micros(ts) - start) // _US_PER_DAY, 0, self.n_days).astype(np.int64)

    def at(self, column: str, as_of: pd.Timestamp | str) -> pd.DataFrame:
        """The evidence of ``column``'s entities from the labels known before ``as_of``.

        ``as_of`` is rounded down to a day start (only labels known before that count), and
        clipped to the days the index covers (see ``until``).

        Returns
        -------
        pandas.DataFrame
            Index: entity id; columns :data:`COMPROMISE_COLUMNS`.
        """
        stamp = pd.Timestamp(as_of)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
        row = int(self.day(pd.Series([stamp]))[0])
        cards = self.cards[column][row].astype(np.float64)
        visitors = self.visitors[column][row].astype(np.float64)
        return pd.DataFrame(
            {"cpc_cards": cards, "cpc_visitors": visitors,
             "cpc_share": np.divide(cards, visitors, out=np.zeros_like(cards),
                                    where=visitors > 0),
             "cpc_surprise": self.surprise[column][row].astype(np.float64)},
            index=pd.Index(self.ids[column], name="entity_id"),
        )


def _visitors(holder: np.ndarray, point: np.ndarray, ts: np.ndarray, n_points: int,
              start: int, n_rows: int, history_days: float) -> np.ndarray:
    """Distinct holders per point with a visit in ``[day start - history_days, day start)``,
    per day start: each visit covers the day starts after it until the pair's next visit or
    the end of the history window."""
    out = np.zeros((n_rows + 1, n_points), dtype=np.float64)
    if len(ts) == 0:
        return out[:n_rows].astype(np.float32)
    span = int(history_days * _US_PER_DAY)
    order = np.lexsort((ts, point, holder))
    h, p, t = holder[order], point[order], ts[order] - start
    same_next = np.concatenate([(h[1:] == h[:-1]) & (p[1:] == p[:-1]), [False]])
    until = t + span
    until[same_next] = np.minimum(until[same_next], t[1:][same_next[:-1]])
    # Day starts d * DAY in (t, until]: a start s counts the visit when s - history <= t < s;
    # from the pair's next visit on, that visit covers the later starts.
    first = t // _US_PER_DAY + 1
    last = np.minimum(until // _US_PER_DAY, n_rows - 1)
    use = first <= last
    np.add.at(out, (first[use], p[use]), 1.0)
    np.add.at(out, (last[use] + 1, p[use]), -1.0)
    return np.cumsum(out, axis=0)[:n_rows].astype(np.float32)


def _surprise(cards: np.ndarray, visitors: np.ndarray) -> np.ndarray:
    """``-log10 P(X >= cards)``, ``X ~ Poisson(p * visitors)`` with ``p`` per day start the
    share of counted visits; 0 where ``cards`` is 0."""
    total = visitors.sum(axis=1, keepdims=True).astype(np.float64)
    rate = np.divide(cards.sum(axis=1, keepdims=True), total, out=np.zeros_like(total),
                     where=total > 0)
    out = np.zeros(cards.shape, dtype=np.float32)
    hit = cards > 0
    if hit.any():
        mean = np.broadcast_to(rate, cards.shape)[hit] * visitors[hit]
        out[hit] = (-poisson.logsf(cards[hit] - 1, mean) / _LN10).astype(np.float32)
    return out


def _binary_labels(frame: pd.DataFrame, id_column: str, what: str, ids: str) -> pd.Series:
    """``frame``'s ``label`` column as numbers, after checking it has ``id_column`` and
    ``label`` and that every label is 0 or 1 (the error names ``what`` and up to five
    offending ``ids``)."""
    missing = [c for c in (id_column, "label") if c not in frame]
    if missing:
        raise ValueError(f"{what} lack column(s) {missing}; they have {list(frame.columns)}")
    label = pd.to_numeric(frame["label"], errors="coerce")
    bad = ~label.isin([0, 1])
    if bad.any():
        rows = frame.loc[bad, id_column].head(5).tolist()
        raise ValueError(f"{what}: labels must be 0 or 1; offending {ids} {rows}")
    return label
