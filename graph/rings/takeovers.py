"""Account takeovers: established accounts arriving at an entity with a failed attempt first.

Credential stuffing logs in to existing accounts from a tool's few IPs and device fingerprints:
each victim, an account with a life of its own (its own devices, home IP, orders), *arrives* at
an entity it never used, fails a password or more, gets in, and never comes back to it. The
structure null (:mod:`graph.rings.null_model`) takes each entity's users as given, and the burst
test (:mod:`graph.rings.bursts`) judges fresh accounts only, so neither sees it.

An entity's *established arrivals* are the accounts whose first use of it is at least
:data:`AGE_S` after the account's own first event (it lived elsewhere before). An arrival
*qualifies* when the account used the entity for at most :data:`BRIEF_USE_S` (first to last use)
and at least one of its attempts there failed (``failures``: the account-entity pairs with a
failed attempt, read from the events by :func:`event_failures`: the values of an attribute its
mapping names failed, ``result: {values: {success: 0, bad_password: 1}, failed:
[bad_password]}``). The arrivals are judged per day (:data:`WINDOW_S`, on two grids: aligned
and shifted by half a day, so a campaign across midnight is whole on one): an entity-day is a
takeover day when

* at least :data:`MIN_SHARE` of its established arrivals qualify (the effect: a tool's
  attempts fail on most accounts it tries; a store's loyalty tablet, where customers unused to
  it mistype a password a fifth of the time, stays under it), at least ``min_size`` of them;
* and that many qualify beyond chance: with ``p`` the share of qualifying arrivals among the
  established arrivals of the entities of its type *under* :data:`MIN_SHARE` over the whole log
  (one pseudo-count each; entities at the bar are what is looked for and stay out of the
  reference), ``k`` arrivals of which ``x`` qualify have chance ``P(Binomial(k, min(1,
  RATE_SLACK p)) >= x)``, charged for every entity-day of either grid with at least
  ``min_size`` established arrivals (those that could be found) and ``log10 2`` (this test
  beside the structure null); it is kept when the rest reaches ``min_surprise``;

and an entity is a takeover entity when its takeover days hold at least :data:`MIN_SHARE` of
its established arrivals over the whole log (a tool's IP and fingerprint live in their
campaigns; a help desk where locked-out customers recover their accounts, most failing first,
gets a few every week: review R18, session 25, where judging the whole log at once reported a
desk of 40 customers over 70 days at chance 1e-59; a carrier's NAT IP gains accounts every day,
so a platform-wide forced password reset through it is one day of many: review R20, where
gating on the failing arrivals alone reported 18-35 groups of honest accounts).

The takeover entities sharing an account are one group (a tool's IPs and devices, each
attempt from one of each), judged by its most surprising entity; so are the groups of one
tool that share none (a fresh fingerprint per victim through IPs of its own: groups of one
type's entities whose arrivals interleave and fail alike, :func:`_one_tool`), judged by the
least surprising part (joining adds accounts, never surprise: review R32's ``stuff_randfp``
was 4 groups, 58 + 50 + 47 + 37 of its 200 victims, and is one of 192). Its members are the
established arrivals of their takeover days used for at most :data:`BRIEF_USE_S` that came
with the tool's *other side* at once, failing or not: within :data:`AT_ONCE_S` the account also
made such a brief arrival at an entity of the other type a login carries (a type with a failed
attempt in the log: the IP and the device fingerprint, not a seller) that at least
``min_size`` of these arrivals share (a real tool's right passwords get in at the first try:
review R22, where the members were the failing accounts alone, whose passwords held, and the
51 taken over were missed). An honest account arriving that day at an exit the tool shares (a
commercial VPN's, a university NAT) brings its own device, or a private window's fingerprint
of its own, and is no member (reviews R26 / R27: 76 of a VPN exit's 80 honest subscribers
joined a ring of 222 when every brief arrival was one, 35 private-browsing ones when any new
fingerprint was a second side); at an entity nobody arrives at with a device of their own (the
tool's own IP) any new fingerprint is the tool's side (a fresh one per victim: review R32). A
log whose failed attempts name one type only (IPs alone) keeps the failing arrivals instead
(honest accounts mistyping at a tool's shared exit are then members: review R28 measured 15 of
80 subscribers, where the tool replayed its victims' own fingerprints in a log with both).
An account whose every attempt there failed (the tool tried its leaked password, it held:
:func:`entered_pairs` reads, for the candidates only, whether a failing account has an event
there that is no failed attempt) is no member either, unless it got in at once through another
IP and fingerprint both new to it (the tool's next pair), only counted in the evidence: an
honest account the tool failed on (hreview's realistic stuffing: 318 such accounts beside the
64 taken over were a ring of 382). Brief is three days (review R23: a
tool coming back to each account an hour later was not brief at an hour; hreview's
``stuff_return_day``, back 26-30 h later to harvest, was not at a day, 0 of 200 found, and is
196 of 200 at three days, no honest world of sessions 25-27 gaining a group); an office's
staff staying on a new NAT IP for weeks are not. A group over ``max_group_size`` members (a campaign
of thousands that the tool's one fingerprint ties together) falls back to one group per
entity, each its first ``max_group_size`` members, the rest counted in its evidence (review
R19: such a campaign was dropped). The evidence names the entities, the window of the members'
arrivals, the failed attempts and the accounts tried and never in.

Failed attempts are required, not a strengthening term: without them (every established
arrival used for at most an hour qualifying, same bar and test) each of eight honest worlds of
session 25 (a 900-account base population beside a conference Wi-Fi, a hotel Wi-Fi, a loyalty
tablet, an office's new NAT IP, a carrier's re-numbering, a password-reset wave, an app update,
a reset wave at a new office IP) gave a group of about 720 honest accounts (the base
population's one-off visits to carrier and café IPs are all such arrivals), and the planted
stuffing was not found; with them none of the eight gave a group and both plantings were.
Nor are the tool's two sides at once a signal without them (session 26: qualifying the arrivals
at an IP and a fingerprint both new, within the hour, the second side shared): it finds a
verified-list campaign (193 of 200) but reports the loyalty tablet whole (148 of 150 customers
on a store's new tablet through its new IP in one day, each once: the same shape), and a
store's promotion day likewise (150 of 150).

What the rule uses and the evasion it opens: it needs the log's failed attempts (a mapping
that does not name them gives no search), so an attacker with a working credential list
(phished, not stuffed) is not seen; a tool that comes back to each account more than three
days later is not brief; a campaign throttled to fewer than ``min_size`` victims a
day per IP and fingerprint (or one spread over 50 IPs and as many fingerprints for a few a day
each) gives no takeover day, nor does one whose tool also fails on a drip of accounts every
day of the log (its days then hold under half its failing arrivals); an attacker whose every
attempt comes through its own residential proxy IP and its own device fingerprint gives no
entity two victims and is not seen; a tool IP that honest accounts use too (a carrier's NAT)
dilutes its day's share below :data:`MIN_SHARE`, and one whose IP or fingerprint is a hub
honest accounts arrive at every day (a residential proxy pool's exit also used by its honest
customers) has a campaign day that holds too few of its arrivals (its other entities may
still show it). In a short log (a week's export) a carrier IP's forced-reset day can hold half
its arrivals and read as a takeover. A tool that logs in with each victim's own fingerprint
(stolen with the password; antidetect browsers import them) in a log naming both sides is not
seen at all (review R28: its arrivals are not told from honest ones at the IP), nor is one
drawing a fresh fingerprint for every victim through an exit honest users come out of with
devices of their own (through IPs of its own it is: an entity at which at most
:data:`OWN_SIDE_SHARE` of the day's arrivals come with a device of their own is the tool's
alone, and any fingerprint new to the arrival is its other side: review R32, 192 of 200 found),
unless it covers them with more than that share of arrivals on stable devices (aged accounts of
its own, or its victims revisited with yesterday's fingerprint: review R35, not seen; admitting
there the failing arrivals with an unshared new fingerprint where most such fail finds 95 of
100 but makes members of the private-window users who mistype at the exit, 2 of 80 and 6 of 200
at a 20 % mistyping rate: not done); an exit whose honest users all come in private windows
(every fingerprint new) reads as the tool's own, its users members. In a log naming IPs alone
the accounts a tool got into at the first try are missed. Honest look-alikes it keeps out: a
conference or hotel Wi-Fi, an office's new NAT IP, a carrier's re-numbering (established
arrivals that mostly succeed, and stay on the entity), a password-reset wave after a breach
notice (failures on the accounts' own devices and IPs, not arrivals) and an app update that
changes every fingerprint (arrivals that stay); a store's tablet whose customers mostly
succeed; a help desk of locked-out customers over weeks. A password-reset wave *at* a one-day
conference (every attendee failing first on the conference's new Wi-Fi, once), or a one-
afternoon "digital help day" where most visitors recover a locked-out account on the desk's PC,
would read as a takeover (hreview's probe: 8 visitors failing first on one PC are a group of 7
at 1e-13). """

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.stats import binom

from graph.rings.bursts import Burst, duration
from graph.snapshot import ACCOUNT
from graph.snapshot_sql import relation_sources
from ingest.state import IngestState

#: An arrival is established when the account's first event is at least this long before it.
AGE_S = 7 * 86400
#: A qualifying arrival uses the entity for at most this long (first to last use).
BRIEF_USE_S = 3 * 86400
#: A takeover entity: at least this share of its established arrivals qualify.
MIN_SHARE = 0.5
#: A member's arrival at a takeover entity and at the tool's other side are this close in time.
AT_ONCE_S = 3600
#: A takeover entity at which at most this share of the day's arrivals come with a device (or
#: IP) of their own, not one new to them, is the tool's alone.
OWN_SIDE_SHARE = 0.05
#: An entity may have this many times its type's share of qualifying arrivals.
RATE_SLACK = 2.0
#: Two takeover groups' arrivals fail alike (one tool's, :func:`_one_tool`) when their failing
#: shares differ by at most this many standard errors of a two-proportion test.
ALIKE_Z = 3.0
#: A takeover group joins a more surprising one of the same tool (:func:`_one_tool`) when its
#: own surprise is at least this share of that one's: the joined group is judged by its least
#: surprising part, so a part far weaker (a few accounts failing first at an IP of their own the
#: same hours) would cost the tool's ring its report. Two tools of 100 victims over 4 IPs each
#: (``randfp_two_tools``, seed 1): groups of 92 and 96 judged 23 / 21 orders (reported from 5,
#: :data:`gnn.ring_ranking.BURST_REPORT_SURPRISE`); at 0.75 74 + 18 and 57 + 23 + 16; review
#: R32's ``stuff_randfp`` (seeds 0 / 1) one group of 192 / 189 judged 53 / 50 (155 + 37 /
#: 151 + 38 at 0.75); 12 patrons of a library IP in private windows, 7 failing first, the
#: tool's hours (6.4 orders, under the report bar) join no tool at 20.6 (at 0.25 they would,
#: and take its report with them).
TOOL_SHARE = 0.5
#: The arrivals are judged per window of this many seconds, on two grids (aligned and shifted by
#: half a window): a tool works its victims within hours, a help desk gets a few a week.
WINDOW_S = 86400


def event_failures(events: Path | str, batch_rows: int = 1_000_000) -> pd.DataFrame | None:
    """The account-entity pairs with a failed attempt, ``account_id, entity`` (``"Type:id"``,
    distinct), from the canonical events under ``events`` (an events directory): the events
    whose attribute holds a value its mapping declared a failed attempt (``failed:``, recorded
    in the ingest state, :attr:`ingest.state.IngestState.failures`), ``batch_rows`` at a time;
    ``None`` when the events declare none (the log says nothing of failed attempts). The entity
    columns are the snapshot's (the built-in ones and those the ingest declared)."""
    found = _declared(events)
    if found is None:
        return None
    dataset, failed, columns = found
    return _pairs(dataset.scanner(columns=["account_id", *columns], batch_size=batch_rows,
                                  filter=failed), columns)


def entered_pairs(events: Path | str, pairs: pd.DataFrame,
                  batch_rows: int = 1_000_000) -> np.ndarray:
    """Per row of ``pairs`` (``account_id, entity``: account-entity pairs with a failed
    attempt, :func:`event_failures`): whether the account has an event there under ``events``
    that is no failed attempt (it got in there). One scan of the events of ``pairs``' accounts
    (a takeover search asks for its few candidates' pairs only)."""
    found = _declared(events)
    if found is None or pairs.empty:
        return np.ones(len(pairs), dtype=bool)
    dataset, failed, columns = found
    accounts = pc.cast(pa.array(pairs["account_id"].astype(str).unique(), pa.string()),
                       dataset.schema.field("account_id").type)
    other = _pairs(dataset.scanner(columns=["account_id", *columns], batch_size=batch_rows,
                                   filter=~failed & pc.field("account_id").isin(accounts)),
                   columns)
    keys = pairs[["account_id", "entity"]].astype(str)
    return keys.merge(other.assign(entered=True), on=["account_id", "entity"],
                      how="left")["entered"].notna().to_numpy()


def _declared(events: Path | str) -> tuple[ds.Dataset, pc.Expression, dict[str, str]] | None:
    """The events under ``events`` as a dataset, the filter of their failed attempts and the
    entity columns (event column -> entity type); None when the events declare no failed
    attempt."""
    state = IngestState.load(events) if Path(events).is_dir() else IngestState()
    if not state.failures:
        return None
    dataset = ds.dataset(events, format="parquet", partitioning="hive")
    declared = {name: values for name, values in state.failures.items()
                if name in dataset.schema.names}
    if not declared:
        return None
    failed = None
    for name, values in declared.items():
        test = pc.field(name).isin(pa.array(values, pa.float64()))
        failed = test if failed is None else failed | test
    columns = {source.column: source.node_type for source in relation_sources(state)
               if source.node_type != ACCOUNT and source.column in dataset.schema.names}
    return dataset, failed, columns


def _pairs(scanner: ds.Scanner, columns: dict[str, str]) -> pd.DataFrame:
    """The distinct ``account_id, entity`` pairs (``"Type:id"``; ``columns``: event column ->
    entity type) of the events ``scanner`` reads."""
    parts: list[pd.DataFrame] = []
    for batch in scanner.to_batches():
        if batch.num_rows == 0:
            continue
        account = pc.cast(batch.column("account_id"), pa.string())
        for column, node_type in columns.items():
            present = pc.is_valid(batch.column(column))
            entity = pc.binary_join_element_wise(
                pa.scalar(f"{node_type}:"), pc.cast(batch.column(column), pa.string()), "")
            parts.append(pd.DataFrame({
                "account_id": pc.filter(account, present).to_numpy(zero_copy_only=False),
                "entity": pc.filter(entity, present).to_numpy(zero_copy_only=False)}))
    if not parts:
        return pd.DataFrame({"account_id": pd.Series([], dtype=object),
                             "entity": pd.Series([], dtype=object)})
    return pd.concat(parts, ignore_index=True).drop_duplicates(ignore_index=True)


def failed_uses(edges: pd.DataFrame, accounts: pd.Index, entities: pd.Index,
                failures: pd.DataFrame) -> np.ndarray:
    """Per use of ``edges`` (``row, col``; rows of ``accounts``, columns of ``entities``):
    whether ``failures`` (:func:`event_failures`) hold a failed attempt of that account at
    that entity."""
    rows = accounts.get_indexer(failures["account_id"].astype(str))
    cols = entities.get_indexer(failures["entity"].astype(str))
    known = (rows >= 0) & (cols >= 0)
    width = np.int64(max(len(entities), 1))
    failed = np.unique(rows[known].astype(np.int64) * width + cols[known])
    keys = edges["row"].to_numpy(np.int64) * width + edges["col"].to_numpy(np.int64)
    return np.isin(keys, failed)


def takeover_groups(edges: pd.DataFrame, failed: np.ndarray, account_first: np.ndarray,
                    codes: np.ndarray, labels: pd.Index, min_size: int, max_group_size: int,
                    min_surprise: float,
                    entered: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                    ) -> list[Burst]:
    """The takeover groups (module docstring) whose surprise reaches ``min_surprise`` (and 0),
    each of ``min_size..max_group_size`` accounts.

    ``edges`` are the account-entity uses (``row, col, first_ts, last_ts``; epoch s, ``-1``
    unknown), ``failed`` marks the uses with a failed attempt (:func:`failed_uses`),
    ``account_first`` is each account's first event (:func:`graph.rings.bursts.account_times`),
    ``codes`` each entity's type code and ``labels`` its ``"Type:id"`` label; ``entered`` says
    of uses with a failed attempt (their rows and columns) whether the account got in there
    too (:func:`entered_pairs`; None: not known, every arrival taken as in), asked of the
    candidates' uses only. Each group is a :class:`graph.rings.bursts.Burst` of its most surprising
    entity."""
    if not failed.any():
        return []
    row = edges["row"].to_numpy(np.int64)
    col = edges["col"].to_numpy(np.int64)
    first_ts = edges["first_ts"].to_numpy(np.int64)
    last_ts = edges["last_ts"].to_numpy(np.int64)
    since = account_first[row]
    established = (first_ts >= 0) & (since >= 0) & (first_ts - since >= AGE_S)
    brief = established & (last_ts >= first_ts) & (last_ts - first_ts <= BRIEF_USE_S)
    qualifies = brief & failed
    if not qualifies.any():
        return []
    p = _reference(col[established], col[qualifies], codes, len(labels))
    base = int(first_ts[established].min())
    grids = [_Cells.of(col, (first_ts - base + offset) // WINDOW_S, established, qualifies, p,
                       min_size) for offset in (0, WINDOW_S // 2)]
    tests = max(sum(grid.tested for grid in grids), 1)
    charge = np.log10(tests) + np.log10(2.0)
    bar = charge + max(min_surprise, 0.0)
    strong = [(grid.x >= min_size) & (grid.x >= MIN_SHARE * grid.k) & (-grid.log_chance >= bar)
              for grid in grids]
    if not any(s.any() for s in strong):
        return []
    # the established arrivals in a strong cell of either grid
    on_day = np.zeros(len(row), dtype=bool)
    for offset, grid, ok in zip((0, WINDOW_S // 2), grids, strong, strict=True):
        keys = col * grid.span + (first_ts - base + offset) // WINDOW_S
        on_day |= established & np.isin(keys, grid.keys[ok])
    # the strong days hold most of the entity's established arrivals over the log: a tool's IP
    # and fingerprint live in their campaigns; a help desk's locked-out customers come every
    # week, a carrier's NAT IP gains accounts every day (a platform-wide forced reset through
    # it is one day of many: review R20)
    held = np.bincount(col[on_day], minlength=len(labels))
    every = np.bincount(col[established], minlength=len(labels))
    # the brief arrivals of the takeover days, those the tool got in at the first try too (no
    # failed attempt there: review R22, where the failing ones alone were the accounts whose
    # password held, and the taken-over ones were missed)
    keep = on_day & brief & (held >= MIN_SHARE * every)[col]
    if not keep.any():
        return []
    # the members: the arrivals that came with the tool's other side at once (honest accounts
    # arriving that day at an exit the tool shares bring their own device, or a private
    # window's fingerprint of their own: reviews R26, R27); a log naming one side only keeps
    # the failing arrivals
    sides = _login_types(codes, col, failed)
    keep &= (_two_sided(row, col, first_ts, brief, sides, codes, keep, min_size)
             if sides.sum() >= 2 else failed)
    if not keep.any():
        return []
    # refused: every attempt there failed (the tool tried, the password held: review R29),
    # asked of the failing candidates' accounts only
    refused = np.zeros(len(row), dtype=bool)
    if entered is not None:
        asked = failed & brief & sides[codes[col]] & np.isin(row, row[keep & failed])
        refused[asked] = ~entered(row[asked], col[asked])
    # refused there but in at once through another IP and fingerprint both new to it (the
    # tool's next pair; an owner's own phone through a new carrier IP is one side): taken over
    got_in = brief & ~refused & sides[codes[col]] & np.isin(row, row[keep & refused])
    one, other = _at_once(row, first_ts, got_in, got_in)
    pair = np.zeros(len(row), dtype=bool)
    pair[one[codes[col[one]] != codes[col[other]]]] = True
    tried, _ = _at_once(row, first_ts, keep & refused, pair)
    refused[tried] = False
    best = _best_cells(grids, strong, len(labels))
    return _grouped(row[keep], col[keep], first_ts[keep], failed[keep], refused[keep], best,
                    labels, codes, tests, charge, min_size, max_group_size)


def _login_types(codes: np.ndarray, col: np.ndarray, failed: np.ndarray) -> np.ndarray:
    """Per entity type code: whether a login carries it (a ``failed`` use of that type anywhere
    in the log: an IP and a device fingerprint, not a seller)."""
    sides = np.zeros(int(codes.max(initial=0)) + 1, dtype=bool)
    sides[np.unique(codes[col[failed]])] = True
    return sides


def _at_once(row: np.ndarray, first_ts: np.ndarray, at: np.ndarray,
             near: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of uses (indices), one of ``at`` and one of ``near`` (masks), of one account
    and first used within :data:`AT_ONCE_S` of each other."""
    candidates, other = np.flatnonzero(at), np.flatnonzero(near)
    other = other[np.isin(row[other], row[candidates])]
    pairs = pd.DataFrame({"row": row[candidates], "at": candidates}).merge(
        pd.DataFrame({"row": row[other], "near": other}), on="row")
    first, second = pairs["at"].to_numpy(), pairs["near"].to_numpy()
    close = np.abs(first_ts[first] - first_ts[second]) <= AT_ONCE_S
    return first[close], second[close]


def _two_sided(row: np.ndarray, col: np.ndarray, first_ts: np.ndarray, brief: np.ndarray,
               sides: np.ndarray, codes: np.ndarray, chosen: np.ndarray,
               min_size: int) -> np.ndarray:
    """Per use: whether it is ``chosen`` and its account made, within :data:`AT_ONCE_S` of it,
    a ``brief`` arrival at an entity of another type a login carries (``sides``, per type
    code) where at least ``min_size`` chosen accounts did so (the tool's other side, not a
    fingerprint of one account's own), or any such arrival where the chosen entity is the
    tool's alone (at most :data:`OWN_SIDE_SHARE` of its chosen arrivals come without one)."""
    code = codes[col]
    at, with_ = _at_once(row, first_ts, chosen & sides[code], brief & sides[code])
    other = code[at] != code[with_]
    at, with_ = at[other], with_[other]
    # the other sides that at least min_size of the chosen accounts share
    counts = pd.DataFrame({"side": col[with_], "account": row[with_]}).drop_duplicates()[
        "side"].value_counts()
    shared = counts.index[counts >= min_size].to_numpy()
    sided = np.zeros(len(row), dtype=bool)
    sided[at[np.isin(col[with_], shared)]] = True
    # an entity nobody arrives at with a device of their own (every chosen arrival there comes
    # with a side new to it: the tool's own IP) is the tool's alone: any such new side is the
    # tool's (a fresh fingerprint per victim: review R32)
    here = chosen & sides[code]
    with_new = np.zeros(len(row), dtype=bool)
    with_new[at] = True
    n_entities = int(col.max(initial=-1)) + 1
    arrived = np.bincount(col[here], minlength=n_entities)
    own = np.bincount(col[here & ~with_new], minlength=n_entities)
    sided |= with_new & (own <= OWN_SIDE_SHARE * arrived)[col]
    return sided


@dataclass(frozen=True)
class _Cells:
    """One grid of :data:`WINDOW_S` cells: each (entity, cell) with an established arrival, its
    key ``col * span + cell``, established arrivals ``k``, qualifying ``x``, the entity's
    reference share ``p`` and the log10 chance; ``tested`` cells have ``k >= min_size``."""

    span: int
    keys: np.ndarray
    k: np.ndarray
    x: np.ndarray
    p: np.ndarray
    log_chance: np.ndarray
    tested: int

    @classmethod
    def of(cls, col: np.ndarray, cell: np.ndarray, established: np.ndarray,
           qualifies: np.ndarray, p: np.ndarray, min_size: int) -> _Cells:
        span = int(cell[established].max()) + 1
        keys, k = np.unique(col[established] * span + cell[established], return_counts=True)
        q_keys, q = np.unique(col[qualifies] * span + cell[qualifies], return_counts=True)
        at = np.minimum(np.searchsorted(q_keys, keys), max(len(q_keys) - 1, 0))
        x = np.where((len(q_keys) > 0) & (q_keys[at] == keys), q[at], 0)
        share = p[keys // span]
        return cls(span, keys, k, x, share, _log_tail(x, k, share), int((k >= min_size).sum()))


def _reference(established: np.ndarray, qualifying: np.ndarray, codes: np.ndarray,
               n_entities: int) -> np.ndarray:
    """Each entity's reference share of qualifying arrivals (after :data:`RATE_SLACK`) from the
    columns of the log's established and qualifying arrivals: its type's entities under
    :data:`MIN_SHARE` over the whole log, its own arrivals left out, one pseudo-count each."""
    k = np.bincount(established, minlength=n_entities)
    x = np.bincount(qualifying, minlength=n_entities)
    n_types = int(codes.max(initial=0)) + 1
    under = x < MIN_SHARE * k
    type_k = np.bincount(codes, weights=k * under, minlength=n_types)
    type_x = np.bincount(codes, weights=x * under, minlength=n_types)
    others_k = type_k[codes] - k * under
    others_x = type_x[codes] - x * under
    return np.minimum(RATE_SLACK * (others_x + 1.0) / (others_k + 1.0), 1.0)


def _log_tail(x: np.ndarray, k: np.ndarray, p: np.ndarray) -> np.ndarray:
    """log10 ``P(Binomial(k, p) >= x)`` (0 where ``x`` is 0)."""
    with np.errstate(divide="ignore"):
        log_chance = binom.logsf(x - 1, k, p) / np.log(10.0)
        # far in the tail the tail's log underflows: it is at most twice its first term there
        # (each next term under half the one before)
        tail = binom.logpmf(x, k, p) / np.log(10.0) + np.log10(2.0)
    log_chance = np.where(np.isfinite(log_chance), log_chance, tail)
    return np.where(x > 0, np.minimum(log_chance, 0.0), 0.0)


@dataclass(frozen=True)
class _Best:
    """Per entity, its most surprising strong cell: ``k``, ``x``, ``p`` and the log10 chance
    (0 where none)."""

    k: np.ndarray
    x: np.ndarray
    p: np.ndarray
    log_chance: np.ndarray


def _best_cells(grids: list[_Cells], strong: list[np.ndarray], n_entities: int) -> _Best:
    """Each entity's most surprising strong cell over the grids."""
    best = _Best(np.zeros(n_entities, np.int64), np.zeros(n_entities, np.int64),
                 np.zeros(n_entities), np.zeros(n_entities))
    for grid, ok in zip(grids, strong, strict=True):
        for i in np.flatnonzero(ok).tolist():
            e = int(grid.keys[i] // grid.span)
            if grid.log_chance[i] < best.log_chance[e]:
                best.k[e], best.x[e] = grid.k[i], grid.x[i]
                best.p[e], best.log_chance[e] = grid.p[i], grid.log_chance[i]
    return best


def _grouped(row: np.ndarray, col: np.ndarray, ts: np.ndarray, failed: np.ndarray,
             refused: np.ndarray, best: _Best, labels: pd.Index, codes: np.ndarray, tests: int,
             charge: float, min_size: int, max_group_size: int) -> list[Burst]:
    """The brief arrivals (``row``, ``col``, arrival ``ts``, whether one ``failed`` there, or
    every attempt there did: ``refused``) on takeover days as groups: the entities sharing an
    account are one, and so are those of one tool (:func:`_one_tool`); its members are the
    accounts with an arrival not refused (the tool got in), the others counted in its
    evidence. A group over ``max_group_size`` members (a campaign the tool's one fingerprint
    ties together) falls back to one group per entity, each its first ``max_group_size``
    members in time, the rest counted in its evidence."""
    entities, at = np.unique(col, return_inverse=True)
    accounts, member = np.unique(row, return_inverse=True)
    # entities linked through the accounts qualifying at both
    bipartite = sp.csr_matrix((np.ones(len(at)), (member, at)),
                              shape=(len(accounts), len(entities)))
    _, linked = connected_components((bipartite.T @ bipartite).tocsr(), directed=False)
    component = _one_tool(linked, at, ts, failed, codes[entities], -best.log_chance[entities])
    found = []
    for c in range(int(component.max()) + 1):
        inside = np.flatnonzero(component == c)
        uses = np.isin(at, inside)
        members = np.unique(row[uses & ~refused])
        tried = len(np.unique(row[uses])) - len(members)
        if len(members) < min_size:
            continue
        if len(members) <= max_group_size:
            listed = uses & np.isin(row, members)
            found.append(_group(row[listed], ts[listed], failed[listed], entities[inside],
                                best, labels, tests, charge, 0, tried, linked[inside]))
            continue
        for e in inside.tolist():
            mine = np.flatnonzero((at == e) & ~refused)
            order = mine[np.argsort(ts[mine], kind="stable")]
            _, first = np.unique(row[order], return_index=True)
            if len(first) < min_size:
                continue
            listed = order[np.sort(first)][:max_group_size]
            tried = len(np.unique(row[at == e])) - len(first)
            found.append(_group(row[listed], ts[listed], failed[listed], entities[[e]], best,
                                labels, tests, charge, len(first) - len(listed), tried))
    return [group for group in found if len(group.rows) >= min_size]


def _one_tool(component: np.ndarray, at: np.ndarray, ts: np.ndarray, failed: np.ndarray,
              types: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """Per entity, its group once the groups of one tool are joined (:func:`_grouped`;
    ``component``: per entity, its group by shared accounts; ``at``: per arrival, its entity;
    ``ts``, ``failed``: the arrival's time, whether it failed; ``types``: per entity, its type
    code; ``strength``: per entity, its best cell's surprise). A tool drawing a fresh
    fingerprint per victim through IPs of its own ties none of its IPs together (review R32's
    ``stuff_randfp``: one group per IP, 58 + 50 + 47 + 37 of 200 victims). Two groups are one
    tool's when each is made of entities of one and the same type (no side of the tool shared by
    their accounts: a group with a shared fingerprint, a VPN exit's or a help desk's PC, is
    never joined), at least :data:`MIN_SHARE` of each one's arrivals fall within the other's
    (first to last; the same day, interleaved: a tool picks an IP per attempt) and their
    arrivals' failing shares do not differ beyond chance (a two-proportion test under
    :data:`ALIKE_Z`: the same attempt pattern); a group joins the first joined set it is one
    tool's with every group of, the most surprising groups first, when its own surprise is at
    least :data:`TOOL_SHARE` of that set's first (a group of a few honest accounts failing first
    the same hours, which alone would not be reported, is not carried by a tool's surprise; one
    part of a tool that far weaker stays a group of its own). The joined group is judged by its
    least surprising part's most surprising entity (:func:`_group`)."""
    n = int(component.max(initial=-1)) + 1
    kinds = pd.Series(types).groupby(component).nunique().reindex(range(n)).to_numpy()
    group = component[at]
    one_type = np.flatnonzero(kinds == 1)
    if len(one_type) < 2:
        return component
    type_of = np.zeros(n, dtype=np.int64)
    type_of[component] = types
    order = np.lexsort((ts, group))
    bounds = np.searchsorted(group[order], np.arange(n + 1))
    times = {int(c): ts[order[bounds[c]:bounds[c + 1]]] for c in one_type}
    fails = {int(c): float(failed[order[bounds[c]:bounds[c + 1]]].mean()) for c in one_type}

    def alike(a: int, b: int) -> bool:
        ta, tb = times[a], times[b]
        if type_of[a] != type_of[b] or ta[-1] < tb[0] or tb[-1] < ta[0]:
            return False
        inside = [np.mean((x >= y[0]) & (x <= y[-1])) for x, y in ((ta, tb), (tb, ta))]
        if min(inside) < MIN_SHARE:
            return False
        pooled = (fails[a] * len(ta) + fails[b] * len(tb)) / (len(ta) + len(tb))
        spread = np.sqrt(pooled * (1.0 - pooled) * (1.0 / len(ta) + 1.0 / len(tb)))
        return abs(fails[a] - fails[b]) <= ALIKE_Z * spread

    surprise = pd.Series(strength).groupby(component).max().reindex(range(n)).to_numpy()
    joined: list[list[int]] = []
    for c in sorted(times, key=lambda c: (-surprise[c], c)):
        home = next((j for j in joined if surprise[c] >= TOOL_SHARE * surprise[j[0]]
                     and all(alike(c, other) for other in j)), None)
        if home is None:
            joined.append([c])
        else:
            home.append(c)
    relabel = np.arange(n)
    for j in joined:
        relabel[j] = min(j)
    return relabel[component]


def _group(row: np.ndarray, ts: np.ndarray, failed: np.ndarray, cols: np.ndarray, best: _Best,
           labels: pd.Index, tests: int, charge: float, more: int, tried: int,
           parts: np.ndarray | None = None) -> Burst:
    """One takeover group: its accounts ``row`` arriving at ``ts`` at the entities ``cols``,
    ``failed`` where one failed there; ``more`` accounts got in there beyond those listed
    (over ``max_group_size``), ``tried`` more arrived there and never got in. ``parts`` (per
    entity of ``cols``) are the groups sharing no account joined as one tool's
    (:func:`_one_tool`): the group is judged by the least surprising part's most surprising
    entity (joining adds accounts, never surprise)."""
    rows = np.unique(row)
    failing = len(np.unique(row[failed]))
    order = cols[np.argsort(best.log_chance[cols], kind="stable")]
    parts = np.zeros(len(cols), dtype=np.int64) if parts is None else parts
    # each part's most surprising entity; the group is judged by the least of them
    strongest = [int(order[np.isin(order, cols[parts == part])][0]) for part in np.unique(parts)]
    judged = max(strongest, key=lambda e: float(best.log_chance[e]))
    tools = len(strongest)
    start, end = (pd.Timestamp(int(t), unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M")
                  for t in (ts.min(), ts.max()))
    return Burst(rows, judged, float(best.log_chance[judged]), tests, [
        f"Takeover:{len(rows)} accounts with their own history (first event at least "
        f"{AGE_S // 86400} days before) each arrived at an entity here new to them on its "
        f"takeover days, {failing} with a failed attempt there and {len(rows) - failing} "
        f"without one (in at the first try), within {duration(int(ts.max() - ts.min()))} "
        f"({start} to {end} UTC), each using it for at most {duration(BRIEF_USE_S)}: "
        f"{', '.join(str(labels[e]) for e in order[:10])}"
        + (f" and {len(order) - 10} more" if len(order) > 10 else "")
        + (f"; {more} more such accounts arrived there (over max_group_size, not listed)"
           if more else "")
        + (f"; {tried} more accounts arrived there on those days and never got in (every "
           f"attempt failed: the tool tried them, their password held; not members)"
           if tried else "")
        + (f"; {tools} groups of one type's entities sharing no account, each with a new "
           f"other side per account, whose arrivals interleave and fail alike: one tool's"
           if tools > 1 else ""),
        *[f"TakeoverChance:{labels[e]}: {int(best.x[e])} of its {int(best.k[e])} arrivals of "
          f"accounts with a history within one day failed first and left, where its type's "
          f"entities allow {best.p[e]:.1%} (chance {10.0 ** best.log_chance[e]:.1e}; {tests} "
          f"entity-days tested, charged {charge:.1f} orders)" for e in order[:5]],
    ])
