"""The card world's information ceiling: the best quality any model can reach from what is known
when it scores (issue 14).

A compromised terminal's purchases are drawn exactly like an honest terminal's (the generator
only relabels them, :func:`ingest.synth.cards_fraud.mark_terminal_fraud`), so a model can tell a
compromised terminal, or one of its purchases, from an honest one only through evidence linked
to the terminal by the scoring time. Per terminal, and per purchase as of its own time, the
kinds of evidence are:

- ``online``: an online merchant (the generator compromises physical terminals only), known
  honest;
- ``own``: a fraud of the terminal's own purchases known (its chargeback) by then;
- ``cpc``: the common point of compromise in the models' windows
  (:class:`gnn.events.compromise.CompromiseIndex`: a card whose first known fraud came within
  ``lookback_days`` of its visit, or reported within ``report_lookback_days`` of it);
- ``linked``: any card with a fraud known, or reported, by then that had visited the terminal
  before then, whatever the delay (every link a deployed model could follow);
- ``timing``: a purchase of the terminal past the settlement delay without a label yet (in this
  generator every genuine purchase is labelled at settlement, 7 days, and a fraud only at its
  chargeback, about 14: a generator artefact, not a fact a card issuer has);
- ``handbook``: a fraud of the terminal's own purchases at least
  :data:`gnn.baselines.xgb_history.DELAY_DAYS` old, known or not (what the handbook's
  XGBoost-with-history counts).

Most links are chance: an honest terminal is visited by cards later known bad (stolen, or
skimmed elsewhere) as often as a compromised one was before its compromise. The *causal* kinds,
read from the generator's truth, keep only the traces the compromise itself left (a compromised
terminal without any is drawn exactly like an honest one, so no model can rank it above them):

- ``caused_chargeback``: a chargeback known of the terminal's own compromise fraud;
- ``caused_card``: a card skimmed at the terminal that has been misused (its first fraudulent
  purchase, known or not: such purchases look unlike the owner's) or reported by then;
- ``caused_timing``: a compromise fraud of the terminal unlabelled past settlement.

The ceiling of a set of evidence kinds ranks every item with evidence perfectly (its positives
above everything, its negatives below everything) and ties the items without any, the honest
and the compromised alike: :func:`ceiling_auroc` and :func:`ceiling_top_share`. It is an upper
bound for any model that reads only those kinds of evidence, however well it ranks them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from gnn.baselines.xgb_history import DELAY_DAYS
from gnn.evaluate import auroc
from gnn.events.compromise import CompromiseIndex

#: The evidence kinds of :func:`terminal_evidence` and :func:`purchase_evidence`.
OBSERVED_KINDS = ("online", "own", "cpc", "linked", "timing", "handbook")
#: The kinds only the truth tells (``truth=`` of :func:`terminal_evidence`).
CAUSAL_KINDS = ("caused_chargeback", "caused_card", "caused_timing")
EVIDENCE_KINDS = OBSERVED_KINDS + CAUSAL_KINDS
#: The fraud kind of a compromised terminal's purchases in the truth.
TERMINAL_FRAUD = "compromised_terminal"
#: The fraud kind of a skimmed card's purchases in the truth.
SKIMMED = "skimmed_card"
_TIMED = ("own", "linked", "timing", "handbook", *CAUSAL_KINDS)


def ceiling_auroc(label: np.ndarray, evident: np.ndarray) -> float:
    """The best AUROC of a score that can only tell the ``evident`` items apart.

    Evident items are ranked perfectly (positives above every other item, negatives below);
    the others are tied with each other (0.5 per pair of a positive and a negative among
    them), so the result is ``1 - P0 * N0 / (2 * P * N)`` with ``P0`` and ``N0`` the positives
    and negatives without evidence.

    Parameters
    ----------
    label
        1 = positive, 0 = negative.
    evident
        Whether each item has evidence.

    Returns
    -------
    float
        The ceiling; ``nan`` when only one class is present.

    Examples
    --------
    >>> ceiling_auroc(np.array([1, 1, 0, 0]), np.array([True, False, False, True]))
    0.875
    """
    label = np.asarray(label, dtype=np.int64)
    return auroc(label, np.where(np.asarray(evident, dtype=bool), 2 * label, 1))


def ceiling_top_share(day: np.ndarray, target: np.ndarray, evident: np.ndarray,
                      share: float) -> pd.Series:
    """Per day, the best expected share of the ``target`` items ranked in the day's top
    ``share``, by a score that can only tell the ``evident`` items apart.

    The day's top ``max(1, round(n * share))`` slots (as
    :func:`benchmarks.cards.top_share_captured`) go first to the evident targets, then to items
    drawn at random among those without evidence (all tied); evident non-targets come last.

    Parameters
    ----------
    day
        The day of each item.
    target
        Whether each item is a target.
    evident
        Whether each item has evidence.
    share
        Share of each day's items in its top.

    Returns
    -------
    pandas.Series
        Per day (sorted), the expected share of its targets in its top; ``nan`` on a day
        without any target.
    """
    frame = pd.DataFrame({"day": np.asarray(day), "target": np.asarray(target, dtype=bool),
                          "evident": np.asarray(evident, dtype=bool)})
    out = {}
    for key, group in frame.groupby("day", sort=True):
        targets = int(group["target"].sum())
        if targets == 0:
            out[key] = np.nan
            continue
        slots = max(1, int(round(len(group) * share)))
        known = int((group["target"] & group["evident"]).sum())
        blind = group[~group["evident"]]
        drawn = min(max(slots - known, 0), len(blind))
        hidden = int(blind["target"].sum())
        expected = min(known, slots) + (drawn * hidden / len(blind) if len(blind) else 0.0)
        out[key] = expected / targets
    return pd.Series(out, name="top_share", dtype=float)


def evident_under(evidence: pd.DataFrame, kinds: Sequence[str]) -> np.ndarray:
    """Whether each row of :func:`terminal_evidence` or :func:`purchase_evidence` has evidence
    of one of ``kinds``."""
    unknown = [k for k in kinds if k not in EVIDENCE_KINDS]
    if unknown:
        raise ValueError(f"unknown evidence kind(s) {unknown}; known: {list(EVIDENCE_KINDS)}")
    return evidence[list(kinds)].to_numpy(dtype=bool).any(axis=1)


def terminal_evidence(events: pd.DataFrame, event_labels: pd.DataFrame,
                      index: CompromiseIndex, as_of: pd.Timestamp,
                      reports: pd.DataFrame | None = None,
                      truth: tuple[pd.Series, pd.Series] | None = None) -> pd.DataFrame:
    """Each terminal's evidence (:data:`EVIDENCE_KINDS`) as of ``as_of``.

    ``own`` counts the labels known at or before ``as_of`` (as
    :func:`gnn.entities.with_label_evidence`), ``cpc`` reads ``index`` as of ``as_of``'s day
    start (as :func:`gnn.entities.with_compromise_evidence`).

    Parameters
    ----------
    events
        ``event_id, ts, terminal_id, payment_id, channel``.
    event_labels
        ``event_id, label, known_at`` of every event.
    index
        The compromise index of the events (``holder="payment_id"``, points with
        ``terminal_id``) built with the same labels and reports.
    as_of
        The scoring time.
    reports
        ``entity_id, label, known_at`` of the cards reported compromised (label 1), or
        ``None``.
    truth
        ``(fraud_kind, skimmed_at)``: the fraud kind of each event (aligned with ``events``,
        ``"compromised_terminal"`` for a compromise fraud) and the terminal each skimmed card
        was skimmed at (indexed by card); adds :data:`CAUSAL_KINDS`.

    Returns
    -------
    pandas.DataFrame
        Index: terminal id (every terminal with events); one boolean column per evidence kind.
    """
    times = _first_times(events, event_labels, reports, truth)
    cpc = index.at("terminal_id", as_of)["cpc_cards"].reindex(times.index).fillna(0.0)
    out = pd.DataFrame({"online": times["online"]}, index=times.index)
    for kind in _TIMED:
        if kind in times:
            out[kind] = (times[kind] <= as_of).to_numpy()
    out["cpc"] = cpc.to_numpy() > 0
    return out[[k for k in EVIDENCE_KINDS if k in out]]


def purchase_evidence(events: pd.DataFrame, event_labels: pd.DataFrame,
                      index: CompromiseIndex, reports: pd.DataFrame | None = None,
                      truth: tuple[pd.Series, pd.Series] | None = None) -> pd.DataFrame:
    """The evidence of each purchase's terminal as of the purchase (labels known strictly
    before it; ``cpc`` as of the start of its day, as the event features read it).

    Parameters
    ----------
    events, event_labels, reports, truth
        As for :func:`terminal_evidence`.
    index
        The compromise index built from ``events`` (in the same order).

    Returns
    -------
    pandas.DataFrame
        One row per event of ``events`` (same index); one boolean column per evidence kind
        (all false for a purchase without a terminal).
    """
    times = _first_times(events, event_labels, reports, truth)
    at = times.reindex(events["terminal_id"].to_numpy()).set_axis(events.index)
    ts = pd.to_datetime(events["ts"], utc=True)
    out = pd.DataFrame({"online": at["online"].fillna(False).astype(bool)}, index=events.index)
    for kind in _TIMED:
        if kind in at:
            out[kind] = (pd.to_datetime(at[kind], utc=True) < ts).to_numpy(dtype=bool)
    out["cpc"] = np.nan_to_num(index.event_evidence()["cpc_terminal_id_cards"]) > 0
    return out[[k for k in EVIDENCE_KINDS if k in out]]


def _first_times(events: pd.DataFrame, event_labels: pd.DataFrame,
                 reports: pd.DataFrame | None,
                 truth: tuple[pd.Series, pd.Series] | None) -> pd.DataFrame:
    """Per terminal: ``online``, and the first time each timed evidence kind exists
    (``NaT``: never; the causal kinds only with ``truth``)."""
    missing = [c for c in ("event_id", "ts", "terminal_id", "payment_id", "channel")
               if c not in events]
    if missing:
        raise ValueError(f"events lack column(s) {missing}; they have {list(events.columns)}")
    frame = events[["event_id", "ts", "terminal_id", "payment_id", "channel"]].copy()
    if truth is not None:
        frame["kind"] = np.asarray(truth[0], dtype=object)
    frame = frame.merge(event_labels[["event_id", "label", "known_at"]], on="event_id",
                        how="left")
    frame = frame[frame["terminal_id"].notna()]
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["known_at"] = pd.to_datetime(frame["known_at"], utc=True)
    fraud = frame[frame["label"] == 1]
    terminal = frame.groupby("terminal_id", sort=True)
    out = pd.DataFrame({"online": terminal["channel"].agg(lambda c: bool((c == "online").any()))})
    out["own"] = fraud.groupby("terminal_id")["known_at"].min()
    out["handbook"] = (fraud.groupby("terminal_id")["ts"].min()
                       + pd.Timedelta(days=DELAY_DAYS))
    # Settlement: the longest delay of a genuine label; a purchase unlabelled past it stands out.
    genuine = frame[frame["label"] == 0]
    settle = (genuine["known_at"] - genuine["ts"]).max()
    pending = frame[frame["known_at"].isna() | (frame["known_at"] > frame["ts"] + settle)]
    out["timing"] = (pending["ts"] + settle).groupby(pending["terminal_id"]).min()
    bad = fraud.groupby("payment_id")["known_at"].min()
    reported_at = pd.Series(dtype="datetime64[ns, UTC]")
    if reports is not None and len(reports):
        reported = reports[(reports["label"] == 1) & reports["known_at"].notna()]
        reported_at = pd.to_datetime(reported["known_at"], utc=True).groupby(
            reported["entity_id"].to_numpy()).min()
        bad = pd.concat([bad, reported_at]).groupby(level=0).min()
    visits = frame[frame["payment_id"].isin(bad.index)].groupby(
        ["payment_id", "terminal_id"])["ts"].min().reset_index()
    visits["bad"] = visits["payment_id"].map(bad)
    visits["linked"] = visits[["ts", "bad"]].max(axis=1)
    out["linked"] = visits.groupby("terminal_id")["linked"].min()
    if truth is not None:
        caused = fraud[fraud["kind"] == TERMINAL_FRAUD]
        out["caused_chargeback"] = caused.groupby("terminal_id")["known_at"].min()
        late = pending[pending["kind"] == TERMINAL_FRAUD]
        out["caused_timing"] = (late["ts"] + settle).groupby(late["terminal_id"]).min()
        misuse = frame[frame["kind"] == SKIMMED].groupby("payment_id")["ts"].min()
        traced = pd.concat([misuse, reported_at]).groupby(level=0).min()
        skimmed_at = truth[1].dropna()
        traced = traced[traced.index.isin(skimmed_at.index)]
        out["caused_card"] = traced.groupby(skimmed_at.reindex(traced.index).to_numpy()).min()
    return out
