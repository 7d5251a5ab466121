"""Unsupervised ring candidates: every detector's groups, merged, with evidence and structure.

Detectors (each returns groups of accounts, at most ``max_size`` each, but for the groups
judged whole below):

* ``shared_entities``: communities of the account projection through shared entities and money
  flows, hubs down-weighted (:mod:`graph.rings.projection`, :mod:`graph.rings.communities`),
  and its connected components at each link weight of ``component_weights`` (a ring whose
  members share private entities in a chain stays whole there, where modularity would cut the
  chain);
* ``dense_block``: FRAUDAR-style peeling of the account x (entity + counterparty) matrix, per
  connected component and inside each community found above (:mod:`graph.rings.peeling`);
* ``lockstep``: communities of accounts touching the same entities in the same short windows
  (:mod:`graph.rings.lockstep`);
* ``flow_fan_in``, ``flow_fan_out``, ``flow_cycle``: transfer stars and cycles in each tier of
  pair counts (:mod:`graph.rings.flows`);
* ``group_core``: the core of each group above of more than ``max_size`` accounts (a
  component), the members its rare entities tie (:func:`big_group_cores`): a ring inside a
  big group that chance explains is judged by its own sharing;
* groups judged whole (``whole_groups``, off by default): the communities (before Leiden
  splits them) and dense blocks of more
  than ``component_size_limit`` and at most ``max_group_size`` accounts (between
  ``max_size`` and it only components, as above: :func:`_sized`), kinds ``shared_entities``,
  ``lockstep`` and ``dense_block``. A promo farm of 200 accounts on a few devices, cards and
  IPs is one such group, whose pieces of ``max_size`` each look like one card's users. Such
  a group stays only when its sharing is significant (no money-flow exemption), when it is
  more surprising than any smaller candidate inside it (one that is not is that candidate
  padded: :func:`_padded_big_groups`), with no evidence from the hubs it shares, judged by
  the localities it owns in its home kind only (one place's devices and IPs one kind), picked
  as its home's users and counting each entity's users beyond one household's
  (:func:`_sharing_chance`, :func:`graph.rings.localities.home_anchors`); the searches cut
  only groups of up to ``max_size`` further (dense cores, rare-entity cores);
* ``flow_periodic_fan``: one-off counterparties of one account on an exact schedule of days
  (:mod:`graph.rings.periodic`), judged by its own test: its surprise is at least that of the
  schedule;
* ``entity_burst``: the fresh accounts one entity gained in a burst far tighter in time than its
  type gains fresh accounts (:mod:`graph.rings.bursts`), judged by its own test as periodic fans
  are, listed first in its evidence (``Burst:``) and all of it its core;
* ``account_takeover``: accounts with a history of their own arriving at entities new to them
  with a failed attempt first and leaving, far more of an entity's such arrivals than its type
  has (:mod:`graph.rings.takeovers`; only where the mapping declares failed attempts), judged by
  its own test as bursts are (``Takeover:``), up to ``max_group_size`` accounts;
* ``pair``: two accounts sharing two or more rare entities (:mod:`graph.rings.pairs`), whose
  surprise also counts how unlikely their uses of them coincide in time (evidence
  ``Together:``);
* with account scores only: ``scored_component`` (linked groups of high-scoring accounts) and
  ``scored_core`` (the high-scoring members of any group above).

Groups with the same members are merged (their kinds joined with ``+``); a group overlapping an
earlier one at Jaccard >= ``dedupe_jaccard`` is folded into it. Every group then gets its
null-model ``surprise`` (:mod:`graph.rings.null_model`), and groups below
``config.min_surprise`` (sharing that chance explains: a few of a restaurant's hundreds of
reviewers; members with lives of their own at a place they share, :mod:`graph.rings.places`)
are dropped, except groups tied by money flows: the flow shapes (``flow_*`` kinds)
and groups sharing no entity (their counterparties, say) or, with internal transfers, none
but hubs. Under a configuration model of
transfers stars and cycles are common (honest transfers close many), so the null model does
not single out laundering flows;
the flow searches (time windows, one-off transfers) and the scorer judge them, and without
labels they are not reported unless significant (``significant``).

Independent parts of the search run in a forked child process beside the rest
(:class:`graph.rings.forked.ForkedCall`), on a machine's second core: the lockstep search
(:func:`lockstep_groups`) and then the money-flow searches (:func:`flow_shapes`), while the
parent finds the communities, the dense blocks and then the localities of the null model
(:func:`locality_scales`); one child, not two (on two cores a third process gained little time,
and the three at once were the search's memory peak at a million accounts). The results are
the same as in one process.

The candidates come as an Arrow table (:func:`find_ring_candidate_table`, one row per
candidate, :data:`CANDIDATE_SCHEMA`), built column by column: a Python object per candidate
took GBs at a million accounts. :func:`find_ring_candidates` gives :class:`RingCandidate`
objects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from graph.rings.activity import account_activity
from graph.rings.bursts import Burst, account_times, entity_bursts
from graph.rings.communities import (
    bridge_parts,
    components,
    group_rows,
    split_at_bridges,
    split_communities,
)
from graph.rings.config import RingConfig
from graph.rings.flow_null import Lives, contributions, money_log_chance
from graph.rings.flows import (
    FlowGroup,
    fan_stars,
    pair_count_tiers,
    transfer_table,
    windowed_cycles,
)
from graph.rings.forked import ForkedCall
from graph.rings.growth import grow_groups
from graph.rings.localities import (
    Localities,
    entry_locality_rate,
    find_localities,
    find_locality_scales,
    home_anchors,
    home_entries,
    home_types,
    pair_locality_mean,
    type_kinds,
)
from graph.rings.lockstep import lockstep_matrix, lockstep_touches
from graph.rings.null_model import (
    GROUP_TERM_CAP,
    anchors,
    colocation_signatures,
    entity_types,
    flow_log_chance,
    links_beyond_tree,
    pair_log_chance,
    robust_surprise,
    selection_log_count,
    sharing_log_chance,
    surprise,
    type_degrees,
)
from graph.rings.off_routine import TransferTimes, off_routine_fans, timed_hubs
from graph.rings.off_schedule import off_schedule_fans
from graph.rings.one_shot import one_shot_fans
from graph.rings.pairs import (
    HOUSEHOLD_MAX,
    UseTimes,
    co_user_pair_counts,
    coincidence_log_chance,
    episode_log_chance,
    household_pairs,
    household_ties,
    rare_entity_pairs,
)
from graph.rings.peeling import peel_dense_blocks, peel_groups, pendant_free_cores
from graph.rings.periodic import periodic_fans
from graph.rings.places import (
    PlaceUsers,
    converged,
    explained_uses,
    place_explained,
    place_users,
)
from graph.rings.projection import (
    Incidence,
    account_entity_incidence,
    account_index,
    account_rows,
    co_membership,
    flow_matrix,
    flow_projection,
    stack_incidences,
)
from graph.rings.quiet_cycles import quiet_cycles
from graph.rings.takeovers import failed_uses, takeover_groups
from graph.rings.typologies import TypologySettings, cash_out_table, flow_typologies
from graph.snapshot import Snapshot

#: Kind of a pair's own candidate (:mod:`graph.rings.pairs`).
PAIR_KIND = "pair"
#: The feature (1.0) of a pair's own candidate that chance explains, listed only with
#: ``RingConfig.chance_pairs`` for a run with account scores to judge
#: (:func:`graph.rings.anchored.paired_candidates`); no other candidate carries it.
CHANCE_PAIR_FEATURE = "chance_pair"
#: Structure features every candidate carries, each in [0, 1] except ``size``.
STRUCTURE_FEATURES = (
    "size",
    "density",
    "sharing",
    "exclusivity",
    "synchrony",
    "internal_flow",
    "depth",
    "surprise",
    "significant",
)


def ring_id_for(members: list[str] | np.ndarray) -> str:
    """Deterministic ring id: ``ring-`` + the first 16 hex digits of SHA-1 of the sorted ids."""
    digest = hashlib.sha1("\n".join(sorted(map(str, members))).encode()).hexdigest()
    return f"ring-{digest[:16]}"


@dataclass(frozen=True)
class RingCandidate:
    """One candidate ring.

    Attributes
    ----------
    ring_id
        :func:`ring_id_for` of the members.
    members
        Account ids, sorted.
    kind
        The detector(s) that found it, joined with ``+`` (e.g. ``"dense_block+shared_entities"``).
    evidence
        What ties the members: shared entities as ``"Type:id"`` (rarest sharing first; those
        whose sharing explains nothing last, marked: ``"IP:x (hub: 812 accounts)"``) and
        internal one-off transfers as ``"Transfer:src->dst"``.
    features
        Structure features (see :data:`STRUCTURE_FEATURES`): ``size``; ``density`` = linked member
        pairs / all member pairs (links of the projection, lockstep or flows); ``sharing`` =
        members using an entity another member uses; ``exclusivity`` = mean over shared entities
        of the share of their users who are members (1 = private to the ring, near 0 = hubs);
        ``synchrony`` = 1 - std of members' first activity / std over all accounts (clipped);
        ``internal_flow`` = share of members' counterparties that are members; ``depth`` =
        ``1 - exp(-x)``, ``x`` = the members' extra uses of shared entities per member, each
        weighted by the entity's exclusivity (``sum_e (m_e - 1) m_e / d_e / size``, ``m_e`` members
        and ``d_e`` users of entity ``e``): near 0 for a household sharing one device, near 1 for
        a ring whose members share many entities nobody else uses; ``surprise`` = the
        null-model surprise (:mod:`graph.rings.null_model`; not in [0, 1]: about ``-log10`` of
        the number of groups this tight chance would make); ``significant`` = 1.0 when
        ``surprise >= config.min_surprise`` (groups tied by flows are kept either way); a
        money-flow shape (``flow_*`` kind) also has ``flow_surprise``, the surprise of its
        transfers alone (their timing and amounts against the groups its transfers could
        grow, no entity sharing counted), at most ``surprise``: a cycle through a few
        accounts sharing devices is surprising for the devices, not for its money; and
        ``flow_robust_surprise``, the same with each group-level test of its money (links
        beyond a tree, window, pair class) held to ``GROUP_TERM_CAP`` orders
        (:func:`graph.rings.null_model.robust_surprise`), at most ``flow_surprise``.
    ties
        Every distinct ordered pair of members with a transfer between them, ``(src, dst)``
        sorted; unlike the evidence (at most ``max_evidence`` items) it is complete, so a fan
        of hundreds of mules keeps each mule's tie to its hub. Empty when unknown (candidates
        read back from a file written without it).
    core
        The members that make the group surprising, sorted: each uses a non-hub entity whose
        sharing in the group the null model finds unlikely (log10 chance at most
        ``-CORE_MIN_RARITY``) or has a transfer with another member (a ``ties`` end), or uses
        one of the group's own places another core member uses and a rare entity that more
        than a household shares (:func:`_own_places`: a farm's machines bring the users of
        each of its shared cards into one core, not a hostel's families, each on its card);
        a use a place explains (:func:`graph.rings.places.explained_uses`) ties nobody.
        Without labels a
        ring is trimmed to it (:func:`gnn.rings.trim_to_core`): the honest neighbours a
        community or component pads a ring with share none of its rare entities. Empty when
        unknown (candidates read back from a file written without it).
    """

    ring_id: str
    members: list[str]
    kind: str
    evidence: list[str] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)
    ties: list[tuple[str, str]] = field(default_factory=list)
    core: list[str] = field(default_factory=list)


#: The columns of a candidates table (:func:`find_ring_candidate_table`), one row per
#: :class:`RingCandidate`: ``features`` is its JSON (keys sorted), ``ties`` lists ``[src, dst]``.
#: The types pandas gives the same columns, so files written from the table and from a
#: DataFrame of candidates are alike.
CANDIDATE_SCHEMA = pa.schema([
    ("ring_id", pa.large_string()),
    ("members", pa.list_(pa.string())),
    ("kind", pa.large_string()),
    ("evidence", pa.list_(pa.string())),
    ("features", pa.large_string()),
    ("ties", pa.list_(pa.list_(pa.string()))),
    ("core", pa.list_(pa.string())),
])


def candidate_table(candidates: Sequence[RingCandidate]) -> pa.Table:
    """The candidates table (:data:`CANDIDATE_SCHEMA`) of ``candidates``, in their order."""
    return pa.Table.from_pydict({
        "ring_id": [c.ring_id for c in candidates],
        "members": [list(c.members) for c in candidates],
        "kind": [c.kind for c in candidates],
        "evidence": [list(c.evidence) for c in candidates],
        "features": [json.dumps(c.features, sort_keys=True) for c in candidates],
        "ties": [[list(t) for t in c.ties] for c in candidates],
        "core": [list(c.core) for c in candidates],
    }, schema=CANDIDATE_SCHEMA)


def candidates_from_table(table: pa.Table, block: int = 50_000) -> list[RingCandidate]:
    """The :class:`RingCandidate` of each row of a candidates table (:data:`CANDIDATE_SCHEMA`),
    ``block`` rows at a time (:func:`candidates_from_batches`)."""
    return candidates_from_batches(table.to_batches(max_chunksize=block))


def candidates_from_batches(batches: Iterable[pa.RecordBatch]) -> list[RingCandidate]:
    """The :class:`RingCandidate` of each row of batches of a candidates table
    (:data:`CANDIDATE_SCHEMA`), one batch's Python lists at a time; batches without ``ties``
    or ``core`` (a file written before they were kept) give candidates without them."""
    found: list[RingCandidate] = []
    # one str per account id or evidence item, however many candidates hold it (as pandas'
    # conversion had)
    strings: dict[str, str] = {}
    one = strings.setdefault
    for batch in batches:
        rows = batch.to_pydict()
        n = batch.num_rows
        ties = rows["ties"] if "ties" in rows else [[] for _ in range(n)]
        core = rows["core"] if "core" in rows else [[] for _ in range(n)]
        found += [
            RingCandidate(ring_id, [one(a, a) for a in members], kind,
                          [one(e, e) for e in evidence], json.loads(features),
                          [(one(a, a), one(b, b)) for a, b in own_ties],
                          [one(a, a) for a in own_core])
            for ring_id, members, kind, evidence, features, own_ties, own_core in zip(
                rows["ring_id"], rows["members"], rows["kind"], rows["evidence"],
                rows["features"], ties, core, strict=True)
        ]
    return found


#: A member is in a candidate's ``core`` when it uses a non-hub entity whose sharing in the
#: group has a log10 chance at most minus this (:func:`graph.rings.null_model.
#: sharing_log_chance`), or has an internal transfer.
CORE_MIN_RARITY = 1.0

#: Which group's members stay when near-duplicates merge: the first kind in this order. Money-flow
#: shapes come before the blocks and communities that find their leaves (a fan's leaves share
#: its hub as a counterparty, so a dense block of them would otherwise drop the hub).
_KIND_ORDER = (PAIR_KIND, "flow_periodic_fan", "flow_cycle", "flow_fan_in", "flow_fan_out",
               "flow_bipartite", "flow_gather_scatter", "flow_scatter_gather", "flow_chain",
               "entity_burst", "account_takeover", "dense_block", "lockstep", "shared_entities",
               "group_core", "grown", "scored_component", "scored_core")
_KIND_RANK = {kind: rank for rank, kind in enumerate(_KIND_ORDER)}


#: Member entries per step of the products over candidates' members: each step copies the rows
#: of its members (at a million accounts 500,000 entries of the link matrix were ~0.7 GB).
_CHUNK = 100_000

#: Candidate groups per block of the group overlaps searched for near-duplicates.
_MERGE_BLOCK = 20_000


def find_ring_candidates(
    snapshot: Snapshot,
    config: RingConfig | None = None,
    events: pd.DataFrame | None = None,
    account_scores: pd.DataFrame | None = None,
    linked_components: Mapping[float, pd.DataFrame] | None = None,
    use_times: UseTimes | None = None,
    transfer_times: TransferTimes | None = None,
    failures: pd.DataFrame | None = None,
    entered: Callable[[pd.DataFrame], np.ndarray] | None = None,
) -> list[RingCandidate]:
    """The candidate rings of ``snapshot`` as :class:`RingCandidate` objects: the rows of
    :func:`find_ring_candidate_table` (same parameters), sorted by ring id.

    Examples
    --------
    >>> rings = find_ring_candidates(read_snapshot("snap"))     # doctest: +SKIP
    >>> rings[0].members, rings[0].evidence[:3]                 # doctest: +SKIP
    """
    return candidates_from_table(find_ring_candidate_table(
        snapshot, config, events, account_scores, linked_components, use_times, transfer_times,
        failures, entered))


def find_ring_candidate_table(
    snapshot: Snapshot,
    config: RingConfig | None = None,
    events: pd.DataFrame | None = None,
    account_scores: pd.DataFrame | None = None,
    linked_components: Mapping[float, pd.DataFrame] | None = None,
    use_times: UseTimes | None = None,
    transfer_times: TransferTimes | None = None,
    failures: pd.DataFrame | None = None,
    entered: Callable[[pd.DataFrame], np.ndarray] | None = None,
) -> pa.Table:
    """Find candidate rings in ``snapshot``, without labels unless account scores are given,
    as a table of :data:`CANDIDATE_SCHEMA` (one row per candidate, built column by column:
    at a million accounts a Python object per candidate took GBs).

    Parameters
    ----------
    snapshot
        The graph snapshot.
    config
        Search settings; defaults of :class:`~graph.rings.config.RingConfig` when None.
    events
        Optional canonical events; lockstep then uses every event time, not only the first and
        last use of each edge.
    account_scores
        Optional ``account_id, score`` from a detector. Accounts scoring at least
        ``config.seed_min_score`` then also give ``scored_component`` candidates (connected groups
        of such accounts, linked by a transfer or a projection link of at least
        ``min_edge_weight``, Leiden-split when too large) and ``scored_core`` candidates (every
        other candidate cut down to those accounts).
    linked_components
        Optional connected components of the projection computed elsewhere (on Spark:
        :func:`graph.spark_rings.spark_ring_components`): for each weight of
        ``config.component_weights``, ``account, component`` rows of the components of
        ``min_size..max_size`` accounts at that link weight. They replace the local
        ``shared_entities`` components; every other search still runs here.
    use_times
        Optional reader of every event time of an account's use of an entity
        (:func:`graph.rings.pairs.event_use_times`); a pair's coincidence test then counts
        every episode (:func:`graph.rings.pairs.episode_log_chance`), not only the first and
        last use.
    transfer_times
        Optional reader of every transfer's time
        (:func:`graph.rings.off_routine.event_transfer_times`), asked for the transfers of the
        accounts whose pairs of three or more transfers the snapshot keeps the first and last
        time of only (:func:`graph.rings.off_routine.timed_hubs`); the off-routine fans
        (:mod:`graph.rings.off_routine`) then judge those accounts too.
    failures
        Optional account-entity pairs with a failed attempt (``account_id, entity``:
        :func:`graph.rings.takeovers.event_failures`); the takeover search
        (:mod:`graph.rings.takeovers`) then looks for accounts with a history arriving at an
        entity with a failed attempt first.
    entered
        Optional: whether the account of each such pair (``account_id, entity``) got in there
        too (:func:`graph.rings.takeovers.entered_pairs` of the events), asked of the takeover
        candidates only; those that never did are no members (without it every one is).

    Returns
    -------
    pyarrow.Table
        Deduplicated candidates, each of ``min_size..max_size`` members, sorted by ring id;
        the columns of :class:`RingCandidate`, ``features`` as JSON (keys sorted).

    Examples
    --------
    >>> table = find_ring_candidate_table(read_snapshot("snap"))          # doctest: +SKIP
    >>> table.column("members")[0], table.column("evidence")[0]           # doctest: +SKIP
    """
    cfg = config or RingConfig()
    accounts = account_index(snapshot)
    entities = account_entity_incidence(snapshot, accounts)
    counterparties = account_entity_incidence(snapshot, accounts, include_counterparties=True,
                                              include_entities=False)
    transfers = transfer_table(snapshot, accounts)
    cash_outs = cash_out_table(snapshot, accounts)
    timed = timed_hubs(transfers, len(accounts)) if transfer_times is not None else None
    times = transfer_times(accounts, timed) if transfer_times is not None else None
    flows = flow_matrix(snapshot, accounts)
    failed = (failed_uses(entities.edges, accounts, entities.entities, failures)
              if failures is not None else None)
    got_in = (partial(_entered_uses, entered, accounts, entities.entities)
              if failures is not None and entered is not None else None)
    first_seen = (account_times(snapshot, accounts, entities.edges)
                  if cfg.bursts or failed is not None else None)
    # That is all the search reads of the snapshot: its tables (a GB of ids at a million
    # accounts) go now, unless the caller keeps them, and the forked children below do not
    # inherit them.
    del snapshot
    pa.default_memory_pool().release_unused()
    with_counterparties = stack_incidences(entities, counterparties)
    del counterparties
    types = entity_type_codes(entities.entities)
    # the lockstep search and then the money-flow searches, on another core meanwhile (one
    # child: a third process beside these two was the search's memory peak, on two cores)
    with ExitStack() as children:
        pending = children.enter_context(ForkedCall(
            "ring lockstep and flow searches", lockstep_then_flows, with_counterparties,
            events, transfers, cash_outs, accounts, cfg, times, timed))
        del times
        # the money null reads the card payments' numbers only
        cards = cash_outs[["src", "count", "ts", "last", "amount"]]
        del cash_outs
        # the list holds the one reference to the incidence of entities and counterparties:
        # the search takes it out and lets go of it once its last reader is done
        stacked = [with_counterparties]
        del with_counterparties
        found = _search(cfg, accounts, entities, types, stacked, transfers, flows, pending,
                        account_scores, linked_components, cards, use_times, first_seen,
                        failed, got_in)
    # the table is built from what the search found, with nothing else of it left
    del accounts, entities, transfers, flows
    return _candidate_table(found)


@dataclass(frozen=True)
class RingInputs:
    """What describing groups reads of a snapshot (:func:`ring_inputs`): its accounts (row
    order), their entity uses, transfers (:func:`graph.rings.flows.transfer_table`), card
    payments (the money null's cash-outs: ``src, count, ts, last, amount``), transfer counts
    (:func:`graph.rings.projection.flow_matrix`) and each account's transfer counterparties as
    ``Account:id`` columns."""

    accounts: pd.Index
    entities: Incidence
    transfers: pd.DataFrame
    cash_outs: pd.DataFrame
    flows: sp.csr_matrix
    counterparties: Incidence


def ring_inputs(snapshot: Snapshot) -> RingInputs:
    """The :class:`RingInputs` of ``snapshot``, read as :func:`find_ring_candidate_table`
    reads them; the snapshot is not referenced by them (a caller that lets go of it frees its
    tables)."""
    accounts = account_index(snapshot)
    return RingInputs(
        accounts, account_entity_incidence(snapshot, accounts),
        transfer_table(snapshot, accounts),
        cash_out_table(snapshot, accounts)[["src", "count", "ts", "last", "amount"]],
        flow_matrix(snapshot, accounts),
        account_entity_incidence(snapshot, accounts, include_counterparties=True,
                                 include_entities=False))


def describe_groups(inputs: RingInputs, groups: Sequence[np.ndarray], kind: str,
                    config: RingConfig | None = None) -> pa.Table:
    """Groups of accounts found elsewhere, described as the search describes its candidates
    (evidence, structure features, null-model ``surprise`` and ``significant``, ties, core),
    as a table of :data:`CANDIDATE_SCHEMA` sorted by ring id: every group is a row, whatever
    its surprise (the caller judges them), of kind ``kind``.

    Parameters
    ----------
    inputs
        The snapshot's :class:`RingInputs`.
    groups
        Row indices (into ``inputs.accounts``) of each group's members, at least two each.
    kind
        The groups' kind.
    config
        The search's settings (the null model's: hubs, localities, ``min_surprise``); defaults
        when None.

    Notes
    -----
    A group's links (its ``density`` and the groups the null model counts it among) are the
    projection's and its transfers; lockstep links, which only the search finds, are not
    counted. The null model's entity localities are learnt here, at the cost of their Leiden
    runs (as in the search), once per call.
    """
    cfg = config or RingConfig()
    if not groups:
        return CANDIDATE_SCHEMA.empty_table()
    entities, flows = inputs.entities, inputs.flows
    types = entity_type_codes(entities.entities)
    projection, _ = co_membership(entities.matrix, entities.entities, cfg.hub_degree_cap,
                                  cfg.seed)
    links = [((projection > 0) + ((flows + flows.T) > 0)).astype(np.float32)]
    del projection
    localities = locality_scales(entities.matrix, types[1], cfg)
    found = _describe([(np.unique(rows).astype(np.int64), kind) for rows in groups],
                      inputs.accounts, entities, types, links, flows, inputs.transfers, cfg,
                      localities, cash_outs=inputs.cash_outs, keep_all=True)
    return _candidate_table(found)


def entity_type_codes(entities: pd.Index | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The entity types present (sorted) and each entity column's code among them."""
    # hashed, then the few types sorted: np.unique sorted every entity's type (4x as long)
    codes, found = pd.factorize(entity_types(np.asarray(entities, dtype=object)))
    order = np.argsort(found)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return found[order], rank[codes]


def locality_scales(uses: sp.csr_matrix, codes: np.ndarray, cfg: RingConfig) -> list[Localities]:
    """The entity localities of ``uses`` at each of ``cfg.locality_resolutions`` (none when
    ``cfg.locality`` is off), nested or not as ``cfg.locality_nested`` says."""
    min_users = max(cfg.locality_min_users, cfg.max_size + 1)
    resolutions = cfg.locality_resolutions if cfg.locality else ()
    if cfg.locality_nested and resolutions:
        return find_locality_scales(uses, codes, cfg.hub_degree_cap, min_users, resolutions,
                                    cfg.seed)
    return [find_localities(uses, codes, cfg.hub_degree_cap, min_users, resolution, cfg.seed)
            for resolution in resolutions]


def flow_shapes(transfers: pd.DataFrame, cash_outs: pd.DataFrame, accounts: pd.Index,
                cfg: RingConfig, times: pd.DataFrame | None = None,
                timed: np.ndarray | None = None) -> list[FlowGroup]:
    """Every money-flow group: fan-in / fan-out stars and windowed cycles in each tier of pair
    counts (:mod:`graph.rings.flows`), periodic fans (:mod:`graph.rings.periodic`), one-shot
    fans (:mod:`graph.rings.one_shot`), off-schedule fans (:mod:`graph.rings.off_schedule`),
    off-routine fans judged per transfer (:mod:`graph.rings.off_routine`, on every transfer
    time of the accounts ``timed`` in ``times`` and what the pair table keeps), loops through quiet
    accounts (:mod:`graph.rings.quiet_cycles`), then the typologies
    (:mod:`graph.rings.typologies`)."""
    n = len(accounts)
    found: list[FlowGroup] = []
    for low, high in pair_count_tiers(cfg.flow_max_pair_count):
        found += fan_stars(transfers, n, high, cfg.flow_leaf_max_degree, cfg.flow_min_fan,
                           cfg.max_size, low)
        found += windowed_cycles(transfers, n, high, cfg.flow_window_s, cfg.min_size,
                                 cfg.max_size, cfg.seed, low)
    found += periodic_fans(transfers, accounts, cfg.flow_min_fan, cfg.max_size,
                           cfg.flow_period_max_days, cfg.flow_period_day_s)
    found += one_shot_fans(transfers, accounts, cfg.flow_min_fan, cfg.max_size,
                           cfg.flow_period_max_days, cfg.flow_period_day_s)
    found += off_schedule_fans(transfers, accounts, cfg.flow_min_fan, cfg.max_size,
                               cfg.min_surprise, cfg.flow_period_day_s)
    found += off_routine_fans(transfers, accounts, cfg.flow_min_fan, cfg.max_size,
                              cfg.min_surprise, cfg.flow_period_day_s, times=times, timed=timed)
    found += quiet_cycles(transfers, n, cfg.min_size, cfg.max_size, cfg.min_surprise)
    return found + flow_typologies(transfers, cash_outs, accounts,
                                   TypologySettings.from_ring_config(cfg))


@dataclass
class PackedFlows:
    """Flow groups (:class:`~graph.rings.flows.FlowGroup`) as a few arrays: how the forked
    search sends them back (pickled one object at a time, the 183,144 groups of a 200k-account
    world took 1.1 CPU s to write and 1.5 s to read, one after the other on the search's
    critical path).

    Group ``i`` has the rows ``rows[bounds[i]:bounds[i + 1]]`` (int64), ``kinds[i]``,
    ``log_chance[i]`` and ``tests[i]``; ``evidence`` holds the evidence of the groups that
    have some, by group."""

    rows: np.ndarray
    bounds: np.ndarray
    kinds: list[str]
    log_chance: np.ndarray
    tests: np.ndarray
    evidence: dict[int, list[str]]

    @classmethod
    def of(cls, groups: Sequence[FlowGroup]) -> PackedFlows:
        """``groups`` packed."""
        sizes = np.fromiter((len(g.rows) for g in groups), dtype=np.int64, count=len(groups))
        return cls(
            rows=(np.concatenate([g.rows for g in groups]).astype(np.int64, copy=False)
                  if groups else np.zeros(0, dtype=np.int64)),
            bounds=np.concatenate([[0], np.cumsum(sizes)]),
            kinds=[g.kind for g in groups],
            log_chance=np.fromiter((g.log_chance for g in groups), dtype=np.float64,
                                   count=len(groups)),
            tests=np.fromiter((g.tests for g in groups), dtype=np.int64, count=len(groups)),
            evidence={i: g.evidence for i, g in enumerate(groups) if g.evidence},
        )

    def group_rows(self) -> list[np.ndarray]:
        """Each group's rows (views of :attr:`rows`)."""
        return np.split(self.rows, self.bounds[1:-1]) if self.kinds else []


def lockstep_then_flows(
    with_counterparties: Incidence, events: pd.DataFrame | None, transfers: pd.DataFrame,
    cash_outs: pd.DataFrame, accounts: pd.Index, cfg: RingConfig,
    times: pd.DataFrame | None = None, timed: np.ndarray | None = None,
) -> tuple[tuple[list[tuple[np.ndarray, str]], sp.csr_matrix], PackedFlows]:
    """:func:`lockstep_groups`, then the :func:`flow_shapes` (packed; ``times`` and
    ``timed`` its), one after the other: what the candidate search's forked process computes."""
    found = lockstep_groups(with_counterparties, events, len(accounts), cfg)
    return found, PackedFlows.of(flow_shapes(transfers, cash_outs, accounts, cfg, times,
                                             timed))


def lockstep_groups(
    with_counterparties: Incidence, events: pd.DataFrame | None, n_accounts: int,
    cfg: RingConfig,
) -> tuple[list[tuple[np.ndarray, str]], sp.csr_matrix]:
    """The ``lockstep`` communities (:mod:`graph.rings.lockstep`), then the ``dense_block``
    cores peeled from them, and whether two accounts are in lockstep (boolean accounts x
    accounts)."""
    lockstep = lockstep_matrix(
        lockstep_touches(with_counterparties, events), n_accounts, cfg.lockstep_window_s,
        cfg.hub_degree_cap, cfg.seed,
    )
    found = _sized(split_communities(lockstep, cfg.min_size, cfg.max_size, cfg.min_edge_weight,
                                     cfg.resolution, cfg.seed, whole_up_to=_whole_up_to(cfg)),
                   cfg)
    groups = [(rows, "lockstep") for rows in found]
    groups += [
        (block.rows, "dense_block")
        for block in peel_groups(with_counterparties.matrix, _bounded(found, cfg.max_size),
                                 cfg.min_size, cfg.hub_degree_cap)
    ]
    return groups, (lockstep > 0).tocsr()


def _whole_up_to(cfg: RingConfig) -> int:
    """The most accounts of a group judged whole: ``cfg.max_group_size`` with
    ``cfg.whole_groups``, else 0 (none)."""
    return cfg.max_group_size if cfg.whole_groups else 0


def _sized(groups: list[np.ndarray], cfg: RingConfig) -> list[np.ndarray]:
    """The groups of at most ``cfg.max_size`` rows and those judged whole: more than
    ``cfg.component_size_limit`` (up to ``max_group_size``). Between the two only components
    are candidates, as before groups were judged whole: the communities of 51-100 accounts of a
    generated 200k world added honest groups (60-79 accounts sharing a device, an IP and a
    card) whose cores of 25-27 were reported without labels at surprise 49-55."""
    return [rows for rows in groups
            if len(rows) <= cfg.max_size or len(rows) > cfg.component_size_limit]


def _bounded(groups: list[np.ndarray], max_size: int) -> list[np.ndarray]:
    """The groups of at most ``max_size`` rows: those the searches cut down further (peeled
    to dense cores, cut to rare-entity cores); a group over it is judged whole only."""
    return [rows for rows in groups if len(rows) <= max_size]


def _search(
    cfg: RingConfig,
    accounts: pd.Index,
    entities: Incidence,
    types: tuple[np.ndarray, np.ndarray],
    stacked: list[Incidence],
    transfers: pd.DataFrame,
    flows: sp.csr_matrix,
    pending: ForkedCall[tuple[tuple[list[tuple[np.ndarray, str]], sp.csr_matrix],
                              PackedFlows]],
    account_scores: pd.DataFrame | None,
    linked_components: Mapping[float, pd.DataFrame] | None,
    cash_outs: pd.DataFrame | None = None,
    use_times: UseTimes | None = None,
    first_seen: tuple[np.ndarray, np.ndarray] | None = None,
    failed: np.ndarray | None = None,
    entered: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> _Described | None:
    """:func:`find_ring_candidate_table` up to its table, once the lockstep and flow searches
    are started (``pending``: :func:`lockstep_then_flows`); ``types`` are the entity types
    and codes (:func:`entity_type_codes`), ``stacked`` holds the incidence of each account's
    entities and transfer counterparties (taken out of it here), ``flows`` the transfer
    counts, ``cash_outs`` the card payment pairs (the money null's cash-outs), ``use_times``
    the pairs' event times (:func:`_describe`), ``first_seen`` each account's first and last
    event (:func:`graph.rings.bursts.account_times`; no burst search without it or with
    ``cfg.bursts`` off), ``failed`` which entity uses had a failed attempt
    (:func:`graph.rings.takeovers.failed_uses`; None: no takeover search) and ``entered``
    whether the account of such a use (rows, columns) got in there too (None: not known)."""
    n = len(accounts)
    with_counterparties = stacked.pop()

    # Memory: each big matrix is dropped as soon as nothing below reads it (the projection
    # and the lockstep graph are the largest; at a million accounts they held GBs to the end).
    projection, _ = co_membership(entities.matrix, entities.entities, cfg.hub_degree_cap,
                                  cfg.seed)
    if cfg.flow_weight:
        projection = (projection + flow_projection(flows, cfg.flow_weight)).tocsr()
    groups: list[tuple[np.ndarray, str]] = []
    for weight in cfg.component_weights:
        found = [rows for rows in (components(projection, weight) if linked_components is None
                                   else _given_components(linked_components, weight, accounts))
                 if cfg.min_size <= len(rows) <= cfg.component_size_limit]
        if cfg.split_bridges:
            found = split_at_bridges(projection, found, cfg.min_size, cfg.min_edge_weight)
        groups += [(rows, "shared_entities") for rows in found]
    found = _sized(split_communities(projection, cfg.min_size, cfg.max_size,
                                     cfg.min_edge_weight, cfg.resolution, cfg.seed,
                                     whole_up_to=_whole_up_to(cfg)), cfg)
    groups += [(rows, "shared_entities") for rows in found]
    groups += [
        (block.rows, "dense_block")
        for block in peel_groups(with_counterparties.matrix, _bounded(found, cfg.max_size),
                                 cfg.min_size, cfg.hub_degree_cap)
    ]
    blocks = [
        (rows, "dense_block")
        for rows in _sized([block.rows for block in peel_dense_blocks(
            with_counterparties.matrix, cfg.min_size, _whole_up_to(cfg) or cfg.max_size,
            cfg.peel_blocks,
            cfg.hub_degree_cap,
        )], cfg)
    ] if cfg.peel_blocks > 0 else []
    del with_counterparties
    # the null model's entity localities (Leiden, minutes at a million accounts), here while
    # the child searches
    localities = locality_scales(entities.matrix, types[1], cfg)
    # the results are the search's alone (the call keeps none): each goes when read
    (lockstep_found, linked), packed = pending.result(keep=False)
    groups += lockstep_found + blocks
    del lockstep_found, blocks
    flow_rows = packed.group_rows()
    groups += list(zip(flow_rows, packed.kinds, strict=True))
    flow_evidence = [(flow_rows[i], evidence) for i, evidence in packed.evidence.items()]
    judged = [(flow_rows[i], log_chance, tests) for i, (log_chance, tests) in enumerate(
        zip(packed.log_chance.tolist(), packed.tests.tolist(), strict=True)) if log_chance < 0]
    del packed, flow_rows
    if account_scores is not None:
        strong = projection.multiply(projection >= cfg.min_edge_weight) + flows + flows.T
        groups += _scored_groups(groups, strong.tocsr(), accounts, account_scores, cfg)
    activity = account_activity(entities.edges, n)
    places = _place_users(entities, types, cfg, activity)
    groups += [(core, "group_core")
               for core in big_group_cores([rows for rows, _ in groups], entities, types,
                                           localities, cfg, places)]
    unions: list[tuple[np.ndarray, list[np.ndarray]]] = []
    if cfg.pairs:
        groups, unions = _pieces_at_bridges(groups, projection, cfg)
        found = rare_entity_pairs(entities.matrix, cfg.pair_max_degree, groups=membership_matrix(
            [rows for rows, _ in groups], n) if groups else None)
        groups += [(pair, PAIR_KIND) for pair in found]
        groups += [(rows, "grown") for rows in grow_groups(
            list(found), entities.matrix, types[1], cfg.pair_max_degree, cfg.max_size,
            cfg.min_surprise)]
    bursts = entity_bursts(entities.edges, first_seen[0], types[1], entities.entities,
                           cfg.min_size, cfg.max_size, cfg.min_surprise, cfg.burst_fresh_s,
                           first_seen[1]) if first_seen is not None and cfg.bursts else []
    groups += [(burst.rows, "entity_burst") for burst in bursts]
    takeovers = takeover_groups(entities.edges, failed, first_seen[0], types[1],
                                entities.entities, cfg.min_size, cfg.max_group_size,
                                cfg.min_surprise, entered) if failed is not None else []
    groups += [(group.rows, "account_takeover") for group in takeovers]
    # a takeover is judged by its own test, as a burst is (its evidence, burst_surprise)
    bursts += takeovers
    judged += [(burst.rows, burst.log_chance, burst.tests) for burst in bursts]
    merged = _merge_groups(groups, n, cfg.dedupe_jaccard)
    # the list holds the one reference to the links: _describe lets go of them once read
    links = [((projection > 0) + linked + ((flows + flows.T) > 0)).astype(np.float32)]
    del projection, linked, groups
    return _describe(merged, accounts, entities, types, links, flows, transfers, cfg,
                     localities, flow_evidence, cash_outs, judged, use_times,
                     _union_rows(merged, unions), bursts, places=places, activity=activity)


def _entered_uses(entered: Callable[[pd.DataFrame], np.ndarray], accounts: pd.Index,
                  entities: pd.Index, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``entered`` (of ``account_id, entity`` pairs) asked of the uses ``rows``, ``cols`` (rows
    of ``accounts``, columns of ``entities``)."""
    return entered(pd.DataFrame({"account_id": accounts[rows].astype(str),
                                 "entity": entities[cols].astype(str)}))


#: The kinds of group a search of shared entities finds, split by :func:`_pieces_at_bridges`.
_SPLIT_KINDS = ("shared_entities", "dense_block", "group_core")


def _pieces_at_bridges(
    groups: list[tuple[np.ndarray, str]], projection: sp.csr_matrix, cfg: RingConfig,
) -> tuple[list[tuple[np.ndarray, str]], list[tuple[np.ndarray, list[np.ndarray]]]]:
    """The groups with the pieces of those that fall apart at single links into a pair and
    more (:func:`graph.rings.communities.bridge_parts`), and those unions with their pieces.

    A colluding pair one of whose accounts shares a household's device and IP with a member of
    a ring (or of another pair) is one component, community or dense block with it; described
    as one group the union outranks the pair, which is then its fragment (with labels) or
    inside a reported ring (without). The pieces of at least ``min_size`` accounts join the
    groups as their own candidates, before the union (a near-duplicate union folds into its
    piece); the pair pieces are the pair search's. Which union goes is known once the pieces
    are described: :func:`_describe` drops a union whose every piece is a surprising candidate
    of its own.
    """
    splittable = [i for i, (_, kind) in enumerate(groups) if kind in _SPLIT_KINDS]
    found = bridge_parts(projection, [groups[i][0] for i in splittable], 2, cfg.min_edge_weight)
    if not found:
        return groups, []
    pieces = {splittable[g]: parts for g, parts in found.items()
              if any(len(p) < cfg.min_size for p in parts)}
    out: list[tuple[np.ndarray, str]] = []
    unions: list[tuple[np.ndarray, list[np.ndarray]]] = []
    for i, (rows, kind) in enumerate(groups):
        parts = pieces.get(i)
        if parts is not None:
            out += [(part, kind) for part in parts if len(part) >= cfg.min_size]
            unions.append((np.unique(rows).astype(np.int64), parts))
        out.append((rows, kind))
    return out, unions


def _union_rows(merged: list[tuple[np.ndarray, str]],
                unions: list[tuple[np.ndarray, list[np.ndarray]]]
                ) -> list[tuple[int, np.ndarray]]:
    """Each union of :func:`_pieces_at_bridges` still a merged group of its own, as its index
    among ``merged`` and its pieces' indices, where every piece is one too."""
    if not unions:
        return []
    index = {members.astype(np.int64).tobytes(): i for i, (members, _) in enumerate(merged)}
    found = []
    for union, parts in unions:
        at = index.get(union.tobytes())
        pieces = [index.get(part.astype(np.int64).tobytes(), -1) for part in parts]
        if at is not None and min(pieces) >= 0:
            found.append((at, np.asarray(pieces, dtype=np.int64)))
    return found


def big_group_cores(
    groups: list[np.ndarray], entities: Incidence, types: tuple[np.ndarray, np.ndarray],
    localities: list[Localities], cfg: RingConfig, places: PlaceUsers | None = None,
) -> list[np.ndarray]:
    """The core of each group of more than ``cfg.max_size`` and at most
    ``cfg.component_size_limit`` accounts (the components; a bigger group, which the community
    and block searches keep whole, is judged whole only: the cores of communities of 101 to
    1,000 accounts added 8 rings at member precision 0.04-0.68 to the 87 of the generated 20k
    world without labels), when it is smaller than its group and has at least ``cfg.min_size``
    members: a ``group_core`` candidate of its own, with its own null-model surprise.

    The core is the one :func:`find_ring_candidate_table` gives each candidate (the members
    tied by entities whose sharing in the group the null model finds unlikely, less the parts
    hanging off them through one member: :func:`_core_entries`). A payment ring with its
    members' households and a few honest neighbours is whole in a component of 60 accounts,
    whose sharing the count of such groups its members could grow explains (surprise below
    ``min_surprise``), so it was dropped before its core was looked at; described as a group
    of its own the core is the ring, judged by its own sharing. Groups of up to ``max_size``
    are left to the other searches (Leiden communities and dense blocks are cut from them).
    Identical groups give one core. ``places``: the snapshot's places and their living
    users (:func:`_place_users`; worked out here when None). Uses a place explains still tie
    members here (:func:`_core_entries` without ``explained``): cut, they left a hostel's
    short-stay travellers (no life of weeks) a core of their own, 14 of them a ring at surprise
    52.2 (s28's ALL world, seed 0).
    """
    big: dict[bytes, np.ndarray] = {}
    for rows in groups:
        if cfg.max_size < len(rows) <= cfg.component_size_limit:
            big.setdefault(np.sort(rows).tobytes(), np.sort(rows))
    if not big:
        return []
    member_sets = list(big.values())
    n_accounts = entities.matrix.shape[0]
    membership = membership_matrix(member_sets, n_accounts)
    sizes = np.fromiter((len(g) for g in member_sets), dtype=np.int64, count=len(member_sets))
    cand = np.repeat(np.arange(len(member_sets)), sizes)
    rows = np.concatenate(member_sets)
    uses = entities.matrix
    per_entity = (membership @ uses).tocsr()
    shared = per_entity.multiply(per_entity >= 2).tocsr()
    entity_degree = entities.entity_degree.astype(np.float64)
    chance = _sharing_chance(uses, membership, shared, sizes, entity_degree, types, localities,
                             cfg, _home_kinds(membership, localities, types[0], cfg),
                             _place_users(entities, types, cfg) if places is None else places)
    in_core = _core_entries(uses, chance, entity_degree <= cfg.hub_degree_cap, rows, cand)
    counts = np.bincount(cand[in_core], minlength=len(member_sets))
    wanted = (counts >= cfg.min_size) & (counts < sizes)
    if not wanted.any():
        return []
    # member entries are in group order, so each wanted group's core is one run of them
    return np.split(rows[in_core & wanted[cand]], np.cumsum(counts[wanted])[:-1].tolist())


def _sharing_chance(
    uses: sp.csr_matrix, membership: sp.csr_matrix, shared: sp.csr_matrix, sizes: np.ndarray,
    entity_degree: np.ndarray, types: tuple[np.ndarray, np.ndarray],
    localities: list[Localities], cfg: RingConfig, home: np.ndarray | None,
    places: PlaceUsers | None = None, together: np.ndarray | None = None,
) -> sp.csr_matrix:
    """Per group and entity it shares (``shared``: users per group, at least 2): the log10
    chance of that sharing given the entity's popularity, its type's activity in the group
    and, where ``localities`` are given, how local such sharing is
    (:func:`graph.rings.null_model.sharing_log_chance`; a group over ``cfg.max_size`` is
    judged by the localities it owns in its home kind ``home``, :func:`_home_kinds`).

    With ``cfg.whole_groups`` off (the default) every group is judged as before groups were
    judged whole: no home type, hubs' evidence counted (review R6, session 23: a hostel's 120
    travellers on its 3 PCs behind its 2 Wi-Fi IPs, a component of 88-95 of them, owned
    localities of both types and was reported at surprise 103-123; the parent reported none).
    With it on, a group over ``cfg.max_size`` gets no evidence from the hubs it shares
    (entities of more than ``cfg.hub_degree_cap`` users: log10 chance 0): it can be most of a
    hub's users, a
    group by definition as one entity's users are (a corporate VPN's 193 users of one of its
    IPs, sharing its two other, busier IPs), and hubs are in no locality to explain it. A
    group of up to ``max_size`` is a small part of a hub's users, which the type null judges.
    Such a group's members sharing an entity count beyond one household's
    (:data:`graph.rings.pairs.HOUSEHOLD_MAX`): families travel, stay and pay together, so a
    hostel of 40 families each on its own card shows nothing, a farm's 33 accounts on one card
    do. The evasion it opens: a farm spreading its cards over sets of up to that many accounts
    is not found whole (its pieces are judged as before).

    With ``places`` (:func:`_place_users`), a group's living members on one of its places
    (:func:`graph.rings.places.place_explained`: an office's hot desks, a hostel's PCs) count
    as no sharing, whatever the group's size; fewer than two left count as none
    (``together``: :func:`_arrived_together` of the groups, worked out here when None).
    """
    type_names, codes = types
    degree_by_type = type_degrees(uses, codes, len(type_names))
    kinds = type_kinds(type_names, cfg.place_types)
    counted = shared.tocsr()
    if places is not None:
        counted = counted.copy()
        counted.data = counted.data - place_explained(
            membership, uses, counted, places,
            _arrived_together(membership, places, cfg) if together is None else together)
        counted.data[counted.data < 2] = 0.0
    if cfg.whole_groups:
        # a big group's members sharing an entity beyond one household's (a farm's card of
        # 33) are evidence; a household's or family's card in it is not (a hostel's 40
        # families of 3, each on its own card, were a ring at surprise 110-242)
        counted = counted.copy()
        row = np.repeat(np.arange(counted.shape[0]), np.diff(counted.indptr))
        big = sizes[row] > cfg.max_size
        counted.data[big] = np.maximum(counted.data[big] - HOUSEHOLD_MAX, 0.0)
    chance = sharing_log_chance(
        counted, sizes, entity_degree, codes, (membership @ degree_by_type) / sizes[:, None],
        degree_by_type.sum(axis=0),
        np.max([entry_locality_rate(membership, shared, scale, home, kinds)
                for scale in localities], axis=0) if localities else None)
    row = np.repeat(np.arange(chance.shape[0]), np.diff(chance.indptr))
    hub_in_big = (cfg.whole_groups & (sizes[row] > cfg.max_size)
                  & (entity_degree[chance.indices] > cfg.hub_degree_cap))
    chance.data[hub_in_big] = 0.0
    return chance


def _entries(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The values of ``matrix`` at ``(rows[i], cols[i])`` (0 where none is stored)."""
    picked = matrix.tocsr()[rows]
    at = sp.csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), cols)), shape=picked.shape)
    return np.asarray(picked.multiply(at).sum(axis=1)).ravel()


def _place_users(entities: Incidence, types: tuple[np.ndarray, np.ndarray], cfg: RingConfig,
                 activity: tuple[np.ndarray, np.ndarray] | None = None) -> PlaceUsers:
    """The accounts that can be a place's users and the entities that can be places
    (:func:`graph.rings.places.place_users`; ``types``: :func:`entity_type_codes`;
    ``activity``: each account's first and last use,
    :func:`graph.rings.activity.account_activity`, worked out here when None)."""
    type_names, codes = types
    place_type = np.isin(np.asarray(type_names, dtype=object),
                         np.asarray(cfg.place_types, dtype=object))
    payoff_type = np.isin(np.asarray(type_names, dtype=object),
                          np.asarray(cfg.payoff_types, dtype=object))
    if activity is None:
        activity = account_activity(entities.edges, entities.matrix.shape[0])
    none = np.zeros(0, dtype=bool)
    return place_users(entities.edges, entities.matrix,
                       place_type[codes] if len(codes) else none, activity,
                       cfg.place_life_s, cfg.place_min_users, cfg.whole_group_arrival_s,
                       payoff_type[codes] if len(codes) else none, cfg.burst_fresh_s,
                       HOUSEHOLD_MAX)


def _arrived_together(membership: sp.csr_matrix, places: PlaceUsers, cfg: RingConfig
                      ) -> np.ndarray:
    """Per group: whether its living members without a home of their own (``places``:
    :func:`_place_users`) are a cohort that came, waited, converged and went, as a farm's
    accounts are however long they are kept alive. Came: at least half of them fresh (first
    seen ``whole_group_arrival_s`` or more into the log), at least two, the middle 80% of the
    fresh ones' first uses (:func:`_arrival_spans`) within ``whole_group_arrival_s`` or within
    their median life (all alive at one time). Waited and converged: at least half of the
    fresh ones first used one entity of a payoff type only a life span into their lives,
    after an earlier order (review R44)
    (``places.late``, ``cfg.payoff_types``: the welcome code redeemed after the aging; not
    a seller, where a seasonal cohort buys its ticket home, review R38), beyond that entity's
    usual course (:func:`graph.rings.places.converged`: its ordinary new users rarely first
    used it late; a sale code redeemed whenever the sale runs is none).
    Went: at least half of them quiet a life span before the log ends.

    Accounts there since the log began (an office's staff) arrived at no time the log shows;
    a place's users arriving over months each stay their own time (a hostel's travellers); a
    cohort at a lasting place stays on (a new care home's residents, a library course, review
    R33), and one that leaves again (a shelter's, a seasonal dorm's) orders where each
    chooses, its welcome code first."""
    members = membership.tocsr()
    n_groups = members.shape[0]
    rows = members.indices.astype(np.int64)
    cand = np.repeat(np.arange(n_groups, dtype=np.int64), np.diff(members.indptr))
    living = places.living[rows] & ~places.homed[rows]
    fresh = living & places.fresh[rows]
    n_living = np.bincount(cand[living], minlength=n_groups)
    n_fresh = np.bincount(cand[fresh], minlength=n_groups)
    n_gone = np.bincount(cand[fresh & places.gone[rows]], minlength=n_groups)
    spans = _arrival_spans(places.first, cand[fresh], rows[fresh], n_groups)
    lives = _group_medians(places.life[rows[fresh]], cand[fresh], n_groups)
    cohorts = sp.csr_matrix((np.ones(int(fresh.sum())), (cand[fresh], rows[fresh])),
                            shape=members.shape)
    paid_off = converged(cohorts, members, places, cfg.place_min_users, cfg.min_surprise)
    came = (spans <= cfg.whole_group_arrival_s) | (spans <= lives)
    return ((n_fresh >= 2) & (2 * n_fresh >= n_living) & came & paid_off
            & (2 * n_gone >= n_fresh))


def _group_medians(values: np.ndarray, owner: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group ``0 .. n_groups - 1``: the median (lower middle) of the ``values`` its
    entries hold (``owner``: each value's group); 0 for a group without one."""
    order = np.lexsort((values, owner))
    values, owner = values[order], owner[order]
    counts = np.bincount(owner, minlength=n_groups)
    start = np.r_[0, np.cumsum(counts)[:-1]]
    out = np.zeros(n_groups, dtype=np.float64)
    has = counts > 0
    out[has] = values[start[has] + (counts[has] - 1) // 2]
    return out


def _home_kinds(membership: sp.csr_matrix, localities: list[Localities],
                type_names: np.ndarray, cfg: RingConfig) -> np.ndarray | None:
    """Per group: its home kind (:func:`graph.rings.localities.home_types`, the types of
    ``cfg.place_types`` one kind), or None with ``cfg.whole_groups`` off."""
    if not cfg.whole_groups:
        return None
    return home_types(membership, localities, len(type_names),
                      type_kinds(type_names, cfg.place_types))


def _scored_groups(
    groups: list[tuple[np.ndarray, str]],
    links: sp.csr_matrix,
    accounts: pd.Index,
    account_scores: pd.DataFrame,
    cfg: RingConfig,
) -> list[tuple[np.ndarray, str]]:
    """Groups of high-scoring accounts: linked components and cores of existing groups."""
    unique = account_scores.drop_duplicates("account_id")
    score = (
        pd.Series(unique["score"].to_numpy(np.float64), index=unique["account_id"].astype(str))
        .reindex(accounts.astype(str))
        .fillna(0.0)
        .to_numpy()
    )
    high = np.flatnonzero(score >= cfg.seed_min_score)
    induced = links[high][:, high]
    found = [
        (high[rows], "scored_component")
        for rows in split_communities(
            induced, cfg.min_size, cfg.max_size, resolution=cfg.resolution, seed=cfg.seed
        )
    ]
    for rows, _ in groups:
        core = rows[score[rows] >= cfg.seed_min_score]
        if cfg.min_size <= len(core) < len(rows):
            found.append((core, "scored_core"))
    return found


def _given_components(
    linked: Mapping[float, pd.DataFrame], weight: float, accounts: pd.Index
) -> list[np.ndarray]:
    """The rows of each component in ``linked[weight]`` (``account, component``), in the order
    :func:`~graph.rings.communities.components` gives them: by smallest row, rows ascending."""
    if weight not in linked:
        raise ValueError(f"linked components: none given at link weight {weight} "
                         f"(given: {sorted(linked)})")
    table = linked[weight]
    rows = account_rows(accounts, table["account"])
    if (rows < 0).any():
        unknown = table["account"][rows < 0].astype(str).head(5).tolist()
        raise ValueError(f"linked components at link weight {weight}: accounts not in the "
                         f"snapshot: {unknown}")
    _, labels = np.unique(np.asarray(table["component"].astype(str)), return_inverse=True)
    groups = [np.sort(rows[part]) for part in group_rows(labels)]
    return sorted(groups, key=lambda g: int(g[0]))


def membership_matrix(groups: list[np.ndarray], n_accounts: int) -> sp.csr_matrix:
    """Binary groups x accounts matrix."""
    sizes = np.fromiter(map(len, groups), dtype=np.int64, count=len(groups))
    rows = np.repeat(np.arange(len(groups)), sizes)
    cols = np.concatenate(groups) if groups else np.array([], dtype=np.int64)
    matrix = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(groups), n_accounts))
    matrix.data[:] = 1.0
    return matrix


def _merge_groups(
    groups: list[tuple[np.ndarray, str]], n_accounts: int, dedupe_jaccard: float
) -> list[tuple[np.ndarray, str]]:
    """Merge identical groups and fold near-duplicates into the first of them (by kind order).

    Two money-flow shapes of nearly the same accounts are not folded: both are judged, and the
    overlap suppression keeps the better. A typology group (source, mules, sink) folded into the
    source's fan star lost the sink, its hops and so its evidence (a planted scatter-gather of 17
    kept as a star of 16 at robust surprise 1.4)."""
    by_members: dict[bytes, tuple[np.ndarray, set[str]]] = {}
    ordered = sorted(groups, key=lambda g: _KIND_RANK[g[1]])
    for members, (_, kind) in zip(_sorted_unique([rows for rows, _ in ordered]), ordered,
                                  strict=True):
        key = members.tobytes()
        if key in by_members:
            by_members[key][1].add(kind)
        else:
            by_members[key] = (members, {kind})
    unique = list(by_members.values())
    if not unique:
        return []
    keeps, drops = _near_duplicates(membership_matrix([m for m, _ in unique], n_accounts),
                                    dedupe_jaccard)
    absorbed = np.zeros(len(unique), dtype=bool)
    for keep, drop in zip(keeps.tolist(), drops.tolist(), strict=True):
        if absorbed[keep] or absorbed[drop]:
            continue
        if (all(k.startswith("flow_") for k in unique[keep][1])
                and all(k.startswith("flow_") for k in unique[drop][1])):
            continue
        absorbed[drop] = True
        unique[keep][1].update(unique[drop][1])
    return [
        (members, next(iter(kinds)) if len(kinds) == 1
         else "+".join(k for k in _KIND_ORDER if k in kinds))
        for (members, kinds), gone in zip(unique, absorbed, strict=True)
        if not gone
    ]


def _near_duplicates(matrix: sp.csr_matrix, min_jaccard: float, block: int = _MERGE_BLOCK
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The pairs ``keep < drop`` of rows of the binary groups x accounts ``matrix`` whose
    Jaccard similarity is at least ``min_jaccard``, sorted; the overlaps are taken ``block``
    groups at a time (all at once they were GBs at a million accounts)."""
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    by_column = matrix.T.tocsr()
    keeps, drops = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for start in range(0, matrix.shape[0], block):
        overlap = (matrix[start:start + block] @ by_column).tocoo()
        row = overlap.row.astype(np.int64) + start
        col = overlap.col.astype(np.int64)
        jaccard = overlap.data / (sizes[row] + sizes[col] - overlap.data)
        near = (row < col) & (jaccard >= min_jaccard)
        keeps.append(row[near])
        drops.append(col[near])
    keep, drop = np.concatenate(keeps), np.concatenate(drops)
    order = np.lexsort((drop, keep))
    return keep[order], drop[order]


def _sorted_unique(groups: list[np.ndarray]) -> list[np.ndarray]:
    """``np.unique`` of each group of rows (as int64), in one sort of them all: one call per
    group cost seconds with the 100,000s of groups of a large world."""
    if not groups:
        return []
    sizes = np.fromiter(map(len, groups), dtype=np.int64, count=len(groups))
    flat = np.concatenate(groups).astype(np.int64, copy=False)
    owner = np.repeat(np.arange(len(groups)), sizes)
    order = np.lexsort((flat, owner))
    flat, owner = flat[order], owner[order]
    keep = np.ones(len(flat), dtype=bool)
    keep[1:] = (owner[1:] != owner[:-1]) | (flat[1:] != flat[:-1])
    flat, owner = flat[keep], owner[keep]
    bounds = np.searchsorted(owner, np.arange(len(groups) + 1)).tolist()
    return [flat[start:stop] for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]


def _describe(
    groups: list[tuple[np.ndarray, str]],
    accounts: pd.Index,
    entities,
    types: tuple[np.ndarray, np.ndarray],
    links: list[sp.csr_matrix],
    flows: sp.csr_matrix,
    transfers: pd.DataFrame,
    cfg: RingConfig,
    localities: list[Localities],
    flow_evidence: list[tuple[np.ndarray, list[str]]] | None = None,
    cash_outs: pd.DataFrame | None = None,
    judged: list[tuple[np.ndarray, float, int]] | None = None,
    use_times: UseTimes | None = None,
    unions: list[tuple[int, np.ndarray]] | None = None,
    bursts: list[Burst] | None = None,
    keep_all: bool = False,
    places: PlaceUsers | None = None,
    activity: tuple[np.ndarray, np.ndarray] | None = None,
) -> _Described | None:
    """The evidence and structure features of the merged groups (``localities``:
    :func:`locality_scales`), what :func:`_candidate_table` makes the candidates table of;
    None without groups.

    ``types`` are the entity types and each entity's code among them
    (:func:`entity_type_codes`); ``links`` holds the account x account links (projection,
    lockstep, flows), taken out and let go of once read. ``flow_evidence`` pairs a money-flow
    group's rows with what ties them (its path or hubs, cash-outs, time span, conserved
    share); a merged group holding all of such a group's accounts lists that evidence first.
    ``cash_outs`` (card payment pairs, :func:`graph.rings.typologies.cash_out_table`) let the
    money null judge members cashing out what they received. ``judged`` holds the flow groups
    their search judged itself (rows, log10 chance, tests made: a periodic fan's schedule); a
    merged group holding all of such a group's accounts is as surprising as that test at least
    (:func:`_judged_surprise`). With ``use_times`` a pair's time coincidence counts every
    episode (:func:`graph.rings.pairs.episode_log_chance`), else first and last uses.
    ``unions`` (a group's index and its pieces', :func:`_union_rows`): a group that falls
    apart at single links into pieces each surprising on its own is not kept, its pieces are.
    A group with exactly the accounts of one of ``bursts`` (:mod:`graph.rings.bursts`) lists
    its evidence first, has them all in its core and its test's surprise as
    ``burst_surprise`` (it is one of ``judged`` too). ``keep_all`` keeps every group, whatever
    its surprise (:func:`describe_groups`). ``places``: the snapshot's places and their
    living users (:func:`_place_users`); ``activity``: each account's first and last use
    (:func:`graph.rings.activity.account_activity`); both worked out here when None.
    """
    if not groups:
        return None
    flows_by_first = _flows_by_first_row(flow_evidence or [])
    n = len(accounts)
    member_sets = [rows for rows, _ in groups]
    membership = membership_matrix(member_sets, n)
    sizes = np.asarray(membership.sum(axis=1)).ravel()
    cand = np.repeat(np.arange(len(groups)), sizes.astype(np.int64))
    rows = np.concatenate(member_sets)

    uses = entities.matrix
    per_entity = (membership @ uses).tocsr()
    shared = per_entity.multiply(per_entity >= 2).tocsr()
    # every member's every use (the largest matrix here at a million accounts); only the
    # entities two members share are read below
    del per_entity
    entity_degree = entities.entity_degree.astype(np.float64)
    share_of_users = (shared @ sp.diags(1.0 / np.maximum(entity_degree, 1.0))).tocsr()
    n_shared = np.asarray(shared.getnnz(axis=1))
    exclusivity = np.divide(np.asarray(share_of_users.sum(axis=1)).ravel(), n_shared,
                            out=np.zeros(len(groups)), where=n_shared > 0)
    extra_uses = shared.copy()
    extra_uses.data = (extra_uses.data - 1.0) * extra_uses.data / np.maximum(
        entity_degree[extra_uses.indices], 1.0)
    depth = 1.0 - np.exp(-np.asarray(extra_uses.sum(axis=1)).ravel() / sizes)
    # Memory: what only one feature reads goes once it is read (at a million accounts the
    # search's largest process was this one, here)
    del share_of_users, extra_uses
    touches_shared = _masked_row_sums(uses, (shared > 0).tocsr(), rows, cand) > 0
    sharing = np.bincount(cand, weights=touches_shared, minlength=len(groups)) / sizes

    account_links = links.pop()
    internal_links = _masked_row_sums(account_links, membership, rows, cand)
    pairs = sizes * (sizes - 1)
    density = np.bincount(cand, weights=internal_links, minlength=len(groups)) / pairs
    del internal_links

    counterparties = ((flows + flows.T) > 0).astype(np.float64).tocsr()
    own = np.asarray(counterparties[rows].sum(axis=1)).ravel()
    inside = _masked_row_sums(counterparties, membership, rows, cand)
    own_total = np.bincount(cand, weights=own, minlength=len(groups))
    internal_flow = np.divide(np.bincount(cand, weights=inside, minlength=len(groups)), own_total,
                              out=np.zeros(len(groups)), where=own_total > 0)
    del own, inside, own_total

    first = _first_activity(entities.edges, transfers, n)
    synchrony = _synchrony(first, cand, rows, len(groups))
    # a group over max_size judged whole is a finding only when its members arrived together
    arrived_apart = (cfg.whole_groups & (sizes > cfg.max_size)
                     & (_arrival_spans(first, cand, rows, len(groups))
                        > cfg.whole_group_arrival_s))
    del first
    type_names, codes = types
    kinds = type_kinds(type_names, cfg.place_types)
    home = _home_kinds(membership, localities, type_names, cfg)
    if activity is None:
        activity = account_activity(entities.edges, n)
    if places is None:
        places = _place_users(entities, types, cfg, activity)
    arrived = _arrived_together(membership, places, cfg)
    chance = _sharing_chance(uses, membership, shared, sizes, entity_degree, types, localities,
                             cfg, home, places, arrived)
    # transfer links beyond a spanning tree, counted against what the members' numbers of
    # counterparties make likely
    linked_pairs = flow_log_chance(flows)
    linked_pairs.data = np.ones_like(linked_pairs.data)
    _, owner = _masked_entries(linked_pairs, membership, rows, cand)
    member_degree = np.asarray(counterparties.getnnz(axis=1), np.float64)[rows]
    links = np.bincount(owner, minlength=len(groups))
    flow_degrees = (np.bincount(cand, weights=member_degree, minlength=len(groups)),
                    np.bincount(cand, weights=member_degree ** 2, minlength=len(groups)),
                    sizes, linked_pairs.nnz)
    del linked_pairs, owner, member_degree
    # accounts each account could be grouped with: every co-user of its entities (hubs
    # included, which the projection only samples), its counterparties and its other links
    co_users = (uses > 0).astype(np.float64) @ np.where(
        entity_degree <= cfg.hub_degree_cap, np.maximum(entity_degree - 1.0, 0.0), 0.0)
    link_degree = np.maximum(np.asarray(account_links.getnnz(axis=1)),
                             co_users + np.asarray(counterparties.getnnz(axis=1)))
    del account_links, co_users
    anchor, anchor_members, beyond_anchor = anchors(
        shared, chance, eligible=entity_degree <= cfg.hub_degree_cap,
        signature=colocation_signatures(membership, uses, shared, cfg.seed), codes=codes)
    at = np.maximum(anchor, 0)
    if len(codes):
        peers = np.bincount(codes).astype(np.float64)[codes[at]]
        anchor_degree = entity_degree[at]
    else:  # no entities at all: money flows only
        peers = anchor_degree = np.zeros(len(groups))
    if home is not None:
        # a group with a home is picked as its home's users; its anchor entity's sharing
        # counts as the rest does (its home's entities' chance is 0: they explain it)
        on_home, home_users, home_peers = home_anchors(membership, localities, home, kinds)
        by_home = np.flatnonzero((on_home > 0) & (anchor >= 0))
        beyond_anchor[by_home] += _entries(chance, by_home, anchor[by_home])
        anchor_members = np.where(on_home > 0, on_home, anchor_members)
        anchor_degree = np.where(on_home > 0, home_users, anchor_degree)
        peers = np.where(on_home > 0, home_peers, peers)
    # a money-flow shape is grown through transfers only: its members' choices are their
    # counterparties, not every co-user of their entities
    flow_shape = np.array(["flow_" in kind for _, kind in groups], dtype=bool)
    entry_degree = np.where(flow_shape[cand], np.asarray(counterparties.getnnz(axis=1))[rows],
                            link_degree[rows])
    del counterparties, link_degree
    selection = selection_log_count(entry_degree, np.arange(len(rows)), cand, sizes,
                                    anchor_members, anchor_degree, peers, n)
    inside_flows = _internal_flow_table(transfers, membership)
    # a collection's contributions are one occasion each, no layering: no links beyond a tree,
    # and its money judged without them too (the likelier reading counts)
    collected = contributions(inside_flows, transfers, cfg.flow_hop_s, cfg.flow_min_conserved,
                              cfg.flow_max_conserved, cfg.flow_min_fan, cash_outs)
    flow_chance = links_beyond_tree(
        links - _collected_links(inside_flows, collected, len(groups)), *flow_degrees)
    # the money's timing judged within its accounts' lives (their devices, IPs and cards)
    money = money_log_chance(inside_flows, transfers, sizes, cfg.flow_hop_s,
                             cfg.flow_min_conserved, cfg.flow_max_conserved, cfg.flow_min_fan,
                             cash_outs, Lives.of_activity(*activity), cfg.flow_chain_amounts,
                             collected)
    surprising = surprise(beyond_anchor, flow_chance + money.shape + money.links, selection)
    # a flow shape's surprise from its money alone (no entity sharing, grown through
    # transfers), at most its whole surprise
    unanchored = selection_log_count(entry_degree, np.arange(len(rows)), cand, sizes,
                                     np.zeros(len(groups)), anchor_degree, peers, n)
    flow_surprise = np.minimum(surprising, surprise(
        np.zeros(len(groups)), flow_chance + money.shape + money.links, unanchored))
    # the same with each group-level test (links beyond a tree, window, pair class) held to
    # GROUP_TERM_CAP orders: several tests, not one far out (gnn.ring_ranking.reportable)
    flow_robust = np.minimum(flow_surprise, robust_surprise(
        [flow_chance, money.window, money.habit], money.shape, unanchored))
    own, own_robust = _judged_surprise(judged or [], rows, cand, len(groups))
    surprising = np.maximum(surprising, own)
    flow_surprise = np.maximum(flow_surprise, own)
    flow_robust = np.maximum(flow_robust, own_robust)
    del own, own_robust
    pair = sizes == 2
    together: tuple[np.ndarray, pa.Array] = (np.empty(0, np.int64),
                                             pa.array([], pa.string()))
    timing = np.zeros(int(pair.sum()))
    if pair.any():
        ends = membership[pair].tocsr()
        ends.sort_indices()
        rare = shared[pair].multiply((entity_degree <= cfg.hub_degree_cap)[None, :]).tocsr()
        met = coincidence_log_chance(
            entities.edges, ends.indices[0::2], ends.indices[1::2], rare, cfg.lockstep_window_s,
        ) if use_times is None else episode_log_chance(
            use_times, accounts, entities.entities, ends.indices[0::2], ends.indices[1::2], rare,
            cfg.lockstep_window_s, active=activity)
        timing = met.log_chance
        told = (met.moments > 0) & (met.log_chance < 0)
        together = (np.flatnonzero(pair)[told], pa.array(
            [f"Together:{int(c)} moments within {w / 60:.3g} min on what they share (chance "
             f"{10.0 ** x:.1e})" for c, x, w in zip(
                 met.moments[told], met.log_chance[told], met.window_s[told], strict=True)],
            pa.string()))
    surprising[pair] = _pair_surprise(
        shared[pair], membership[pair], uses, codes, len(type_names),
        entity_degree <= cfg.hub_degree_cap, localities,
        ties=(entity_degree >= 2) & (entity_degree <= cfg.pair_max_degree),
    ) - money.shape[pair] - timing
    if home is not None:
        # a group's home entities tie its members as its rare ones do: a farm on its own 4
        # devices and 5 IPs paying with 6 cards is one core, not one card's users
        tied = chance.tocsr(copy=True)
        at = home_entries(membership, tied, localities, home, kinds)
        tied.data[at] = np.minimum(tied.data[at], -CORE_MIN_RARITY)
    else:
        tied = chance
    own = _own_places(membership, uses, shared, entity_degree, places, cfg.place_min_users)
    del money, entry_degree
    eligible = entity_degree <= cfg.hub_degree_cap
    in_core = _core_entries(uses, tied, eligible, rows, cand,
                            (*explained_uses(uses, places), arrived))
    # the core's own places bring their other users in: a farm aged on its 4 devices (a
    # place's users by the place rule) paying with 3 cards is one core, not one card's users;
    # those who use a rare entity more than a household shares (the farm's other cards), not
    # a hostel's families beside a farm on its PCs, each on its own card
    core_on = (sp.csr_matrix((in_core.astype(np.float64), (cand, rows)), shape=membership.shape)
               @ uses).multiply(own).tocsr()
    beyond = tied.multiply(shared > HOUSEHOLD_MAX).multiply(
        (eligible & ~places.places)[None, :].astype(np.float64)).tocsr()
    beyond.data = (beyond.data <= -CORE_MIN_RARITY).astype(np.float64)
    beyond.eliminate_zeros()
    in_core |= ((_masked_row_sums(uses, (core_on > 0).tocsr(), rows, cand) > 0)
                & (_masked_row_sums(uses, beyond, rows, cand) > 0))
    del membership, own, core_on, tied, beyond
    burst_of = _exact_groups([burst.rows for burst in bursts or []], member_sets)
    is_burst = np.zeros(len(groups), dtype=bool)
    is_burst[burst_of[burst_of >= 0]] = True
    in_core |= is_burst[cand]
    burst_surprise = np.full(len(groups), -np.inf)
    for burst, at in zip(bursts or [], burst_of.tolist(), strict=True):
        if at >= 0:
            burst_surprise[at] = max(burst_surprise[at], -burst.log_chance - np.log10(
                max(burst.tests, 1)) - np.log10(2.0))
    by_flows = flow_shape | ((anchor < 0) & ((internal_flow > 0) | (n_shared == 0)))
    # a group over max_size (a community or dense block kept whole) stays for its sharing
    # alone: money shapes are the flow searches', of at most max_size accounts
    kept = (surprising >= cfg.min_surprise) | (by_flows & ((sizes <= cfg.max_size)
                                                           | (not cfg.whole_groups)))
    kept &= ~arrived_apart
    for union, pieces in unions or []:
        if (surprising[pieces] >= cfg.min_surprise).all():
            kept[union] = False
    kept &= ~_padded_big_groups(rows, cand, sizes, surprising, kept,
                                cfg.component_size_limit, n)
    # a pair chance explains, listed for a run with account scores to judge by them
    by_chance = np.zeros(len(groups), dtype=bool)
    if cfg.chance_pairs:
        by_chance = ~kept & (surprising < cfg.min_surprise) & (sizes == 2) & np.array(
            [PAIR_KIND in kind.split("+") for _, kind in groups], dtype=bool)
        kept |= by_chance
    if keep_all:
        kept = np.ones(len(groups), dtype=bool)
    ids = pa.array(np.asarray(accounts.astype(str), dtype=object), pa.string())
    # only a group that holds a flow shape (its kind says so) can carry flow evidence, listed
    # first; then the shared entities, rarest sharing first (``chance`` has the pattern of
    # ``shared``: the entities that make the group surprising), hubs last and marked, then
    # internal transfers
    evidence = [
        _burst_evidence(bursts or [], burst_of, cfg.max_evidence),
        _flow_evidence(groups, np.flatnonzero(by_flows), flows_by_first, cfg.max_evidence),
        _entity_evidence(shared.tocsr(), chance.tocsr(), kept, cfg.max_evidence,
                         pa.array(np.asarray(entities.entities, dtype=object), pa.string()),
                         entity_degree, cfg.hub_degree_cap),
        together,
        _internal_transfers(inside_flows, ids, cfg.max_evidence),
    ]
    features = {
        "size": sizes.astype(np.float64),
        "density": np.minimum(density, 1.0),
        "sharing": sharing,
        "exclusivity": exclusivity,
        "synchrony": synchrony,
        "internal_flow": internal_flow,
        "depth": depth,
        "surprise": surprising,
        "significant": (surprising >= cfg.min_surprise).astype(np.float64),
        "flow_surprise": flow_surprise,
        "flow_robust_surprise": flow_robust,
        "burst_surprise": burst_surprise,
        CHANCE_PAIR_FEATURE: np.ones(len(groups)),
    }
    return _Described(
        ids, [kind for _, kind in groups], kept, rows, cand, in_core,
        _internal_ties(inside_flows), flow_shape & (flow_surprise >= cfg.min_surprise),
        evidence, cfg.max_evidence, features,
        {"flow_surprise": flow_shape, "flow_robust_surprise": flow_shape,
         "burst_surprise": is_burst, CHANCE_PAIR_FEATURE: by_chance})


#: A candidate is inside a group over ``component_size_limit`` when at least this share of its
#: members are the group's (:func:`_padded_big_groups`).
BIG_GROUP_SHARE = 0.5


def _padded_big_groups(rows: np.ndarray, cand: np.ndarray, sizes: np.ndarray,
                       surprising: np.ndarray, kept: np.ndarray, limit: int,
                       n_accounts: int) -> np.ndarray:
    """Per group: whether it has more than ``limit`` members (``component_size_limit``: a
    community or dense block kept whole) and is no more surprising than a smaller ``kept``
    group inside it (:data:`BIG_GROUP_SHARE` of its members in it).

    Such a group is a candidate for what its sharing shows as a whole (a farm of 200 whose
    pieces each look like one card's users); one whose surprise a smaller candidate inside it
    already holds is that candidate padded with its neighbours, which the smaller one reports
    without them. Groups up to ``limit`` are left as they were (a ring's component with its
    households, cut to its core).
    """
    big = np.flatnonzero(sizes > limit)
    small = np.flatnonzero(kept & (sizes <= limit))
    padded = np.zeros(len(sizes), dtype=bool)
    if len(big) == 0 or len(small) == 0:
        return padded
    bounds = np.searchsorted(cand, np.arange(len(sizes) + 1))
    big_members = membership_matrix([rows[bounds[g]:bounds[g + 1]] for g in big.tolist()],
                                    n_accounts)
    small_members = membership_matrix([rows[bounds[g]:bounds[g + 1]] for g in small.tolist()],
                                      n_accounts)
    inside = (small_members @ big_members.T).tocoo()
    held = inside.data >= BIG_GROUP_SHARE * sizes[small[inside.row]]
    best = np.full(len(big), -np.inf)
    np.maximum.at(best, inside.col[held], surprising[small[inside.row[held]]])
    padded[big] = surprising[big] <= best
    return padded


@dataclass
class _Described:
    """The merged groups as :func:`_describe` leaves them for :func:`_candidate_table`.

    ``rows`` / ``cand`` are the member entries (account row, group), ``in_core`` whether each
    is in its group's core; ``ties`` the distinct ``(cand, src, dst)`` transfer pairs between
    members, whose ends join the core of the groups ``ties_in_core`` marks. ``evidence`` holds
    ``(cand, text)`` parts, listed in that order (each in its own order) and cut to
    ``max_evidence`` items per group; ``features`` a float per group and name, a name left out
    of the groups where ``present[name]`` is False. Only the ``kept`` groups are candidates.
    """

    ids: pa.Array
    kinds: list[str]
    kept: np.ndarray
    rows: np.ndarray
    cand: np.ndarray
    in_core: np.ndarray
    ties: tuple[np.ndarray, np.ndarray, np.ndarray]
    ties_in_core: np.ndarray
    evidence: list[tuple[np.ndarray, pa.Array]]
    max_evidence: int
    features: Mapping[str, np.ndarray]
    present: Mapping[str, np.ndarray]


def _candidate_table(found: _Described | None) -> pa.Table:
    """The candidates table (:data:`CANDIDATE_SCHEMA`) of the kept groups of ``found``, sorted
    by ring id, built column by column (a Python object per candidate was GBs at a million
    accounts)."""
    if found is None:
        return CANDIDATE_SCHEMA.empty_table()
    ids, kept, rows, cand = found.ids, found.kept, found.rows, found.cand
    n_kept = int(kept.sum())
    new = np.cumsum(kept) - 1
    rank = np.empty(len(ids), dtype=np.int64)
    rank[pc.sort_indices(ids).to_numpy()] = np.arange(len(ids))

    # members sorted by account id; the core is theirs that use a rare entity or, in a flow
    # shape whose money is significant, end a tie
    tie_cand, tie_src, tie_dst = found.ties
    core = found.in_core.copy()
    if len(tie_cand):
        key = cand.astype(np.int64) * len(ids) + rows
        sorter = np.argsort(key, kind="stable")
        for ends in (tie_src, tie_dst):
            at = sorter[np.searchsorted(key, tie_cand * len(ids) + ends, sorter=sorter)]
            core[at] |= found.ties_in_core[tie_cand]
        del key, sorter
    entry = np.flatnonzero(kept[cand])
    entry = entry[np.lexsort((rank[rows[entry]], cand[entry]))]
    owner = new[cand[entry]]
    members = pa.ListArray.from_arrays(_offsets(owner, n_kept), ids.take(rows[entry]))
    core_entry = entry[core[entry]]
    core_column = pa.ListArray.from_arrays(_offsets(new[cand[core_entry]], n_kept),
                                           ids.take(rows[core_entry]))

    # every distinct tie (src, dst), sorted by the ends' ids
    on = kept[tie_cand]
    tie_cand, tie_src, tie_dst = tie_cand[on], tie_src[on], tie_dst[on]
    order = np.lexsort((rank[tie_dst], rank[tie_src], tie_cand))
    ends = np.column_stack([tie_src[order], tie_dst[order]]).ravel()
    pairs = pa.ListArray.from_arrays(_offsets(np.arange(len(ends)) // 2, len(ends) // 2),
                                     ids.take(ends))
    tie_column = pa.ListArray.from_arrays(_offsets(new[tie_cand[order]], n_kept), pairs)

    table = pa.Table.from_arrays([
        _ring_ids(members),
        members,
        pa.array(found.kinds, pa.large_string()).filter(kept),
        _evidence_column(found.evidence, kept, new, found.max_evidence),
        _feature_json({name: values[kept] for name, values in found.features.items()},
                      {name: mask[kept] for name, mask in found.present.items()}),
        tie_column,
        core_column,
    ], schema=CANDIDATE_SCHEMA)
    return table.take(pc.sort_indices(table["ring_id"]))


def _offsets(owner: np.ndarray, n: int) -> np.ndarray:
    """List offsets (int32) of ``n`` lists from the list index of each value, ascending.

    Raises
    ------
    OverflowError
        More values than an Arrow list's 32-bit offsets can address (instead of offsets that
        wrap around silently)."""
    counts = np.bincount(owner, minlength=n) if len(owner) else np.zeros(n, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    if offsets[-1] > np.iinfo(np.int32).max:
        raise OverflowError(f"{offsets[-1]:,} list values in one candidates column: more than "
                            "32-bit list offsets address; split the search's input")
    return offsets.astype(np.int32)


def _ring_ids(members: pa.ListArray, block: int = _CHUNK) -> pa.Array:
    """:func:`ring_id_for` of each list of sorted account ids, ``block`` lists at a time."""
    joined = pc.binary_join(members, "\n").cast(pa.binary())
    found: list[str] = []
    for start in range(0, len(joined), block):
        found += [f"ring-{hashlib.sha1(text).hexdigest()[:16]}"
                  for text in joined.slice(start, block).to_pylist()]
    return pa.array(found, pa.large_string())


def _feature_json(features: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray]
                  ) -> pa.Array:
    """Each row's ``json.dumps({name: value}, sort_keys=True)`` of the float columns
    ``features``, a name left out of the rows where ``present[name]`` is False."""
    items = []
    for name in sorted(features):
        # each distinct value (by its bits: -0.0 is not 0.0) written once: sizes, ratios of
        # small counts and flags repeat
        bits, inverse = np.unique(np.asarray(features[name], dtype=np.float64).view(np.int64),
                                  return_inverse=True)
        values = bits.view(np.float64)
        text = list(map(float.__repr__, values.tolist()))
        for i in np.flatnonzero(~np.isfinite(values)).tolist():
            text[i] = json.dumps(values[i].item())  # NaN, Infinity, -Infinity as json writes them
        item = pc.binary_join_element_wise(f"{json.dumps(name)}: ",
                                           pa.array(text, pa.string()).take(inverse), "")
        if name in present:
            item = pc.if_else(pa.array(present[name]), item, pa.scalar(None, pa.string()))
        items.append(item)
    body = pc.binary_join_element_wise(*items, ", ", null_handling="skip")
    return pc.binary_join_element_wise("{", body, "}", "").cast(pa.large_string())


def _evidence_column(parts: list[tuple[np.ndarray, pa.Array]], kept: np.ndarray,
                     new: np.ndarray, limit: int) -> pa.ListArray:
    """The evidence list of each ``kept`` group: its items of each ``(cand, text)`` part in
    turn (each part in its own order), the first ``limit`` of them."""
    cand = np.concatenate([np.asarray(c, dtype=np.int64) for c, _ in parts])
    part = np.repeat(np.arange(len(parts)), [len(c) for c, _ in parts])
    text = pa.concat_arrays([t.cast(pa.string()) for _, t in parts])
    order = np.lexsort((part, cand))
    order = order[kept[cand[order]]]
    owner = cand[order]
    order = order[np.arange(len(order)) - np.searchsorted(owner, owner) < limit]
    return pa.ListArray.from_arrays(_offsets(new[cand[order]], int(kept.sum())),
                                    text.take(order))


def _entity_evidence(shared: sp.csr_matrix, chance: sp.csr_matrix, kept: np.ndarray,
                     limit: int, labels: pa.Array, degree: np.ndarray,
                     hub_cap: int) -> tuple[np.ndarray, pa.Array]:
    """``(cand, "Type:id")`` of the first ``limit`` entities each ``kept`` group shares (groups
    x entities ``shared`` counts), rarest sharing (log10 ``chance``, same pattern) first, then
    most shared.

    A shared entity the null model says explains nothing, one a core leaves out
    (:func:`_core_entries`: used by more than ``hub_cap`` accounts, ``degree``, or shared with
    a log10 chance above ``-CORE_MIN_RARITY``), comes after every rare one, marked with its
    number of users: ``"IP:100.64.0.1 (hub: 812 accounts)"``, ``"Device:d7 (likely by chance:
    12 accounts)"`` (issue 19: a farm's victims share carrier-NAT IPs and common browsers with
    hundreds of honest users, which read as evidence beside the farm's proxies).
    """
    owner = np.repeat(np.arange(shared.shape[0]), np.diff(shared.indptr))
    users = degree[shared.indices]
    common = (users > hub_cap) | (chance.data > -CORE_MIN_RARITY)
    order = np.lexsort((-shared.data, chance.data, common, owner))
    order = order[kept[owner[order]]]
    within = np.arange(len(order)) - np.searchsorted(owner[order], owner[order])
    order = order[within < limit]
    text = labels.take(shared.indices[order])
    marked = np.flatnonzero(common[order])
    if len(marked) == 0:
        return owner[order], text
    suffix = np.full(len(order), "", dtype=object)
    suffix[marked] = [f" (hub: {n} accounts)" if n > hub_cap else
                      f" (likely by chance: {n} accounts)"
                      for n in users[order[marked]].astype(np.int64).tolist()]
    return owner[order], pc.binary_join_element_wise(text, pa.array(suffix, pa.string()), "")


def _flow_evidence(groups: list[tuple[np.ndarray, str]], flagged: np.ndarray,
                   flows_by_first: dict[int, list[tuple[frozenset[int], list[str]]]],
                   limit: int) -> tuple[np.ndarray, pa.Array]:
    """``(cand, text)`` of the first ``limit`` items of flow evidence of each ``flagged``
    group (:func:`_flow_evidence_of`)."""
    cands: list[int] = []
    texts: list[str] = []
    if flows_by_first and len(flagged):
        # only a group holding some flow group's smallest row can hold that flow group: the
        # others (most of them) are told apart in one pass, not a set each
        members = [groups[i][0] for i in flagged.tolist()]
        sizes = np.fromiter(map(len, members), dtype=np.int64, count=len(members))
        firsts = np.fromiter(flows_by_first, dtype=np.int64, count=len(flows_by_first))
        holds = np.isin(np.concatenate(members), firsts)
        owner = np.repeat(np.arange(len(members)), sizes)
        hit = np.bincount(owner[holds], minlength=len(members)) > 0
        for i in flagged[hit].tolist():
            found = _flow_evidence_of(groups[i][0], flows_by_first)[:limit]
            cands += [i] * len(found)
            texts += found
    return np.asarray(cands, dtype=np.int64), pa.array(texts, pa.string())


#: The share of a pair's chance spent on households' pairs (:func:`_pair_surprise`): only
#: their episodes can make them surprising, and a family's pair is rarely a colluding one, so
#: the other pairs keep 0.9 of it (0.05 orders charged, 1 for households' pairs).
HOUSEHOLD_SHARE = 0.1


def _pair_surprise(
    shared: sp.csr_matrix,
    membership: sp.csr_matrix,
    uses: sp.csr_matrix,
    codes: np.ndarray,
    n_types: int,
    counted: np.ndarray,
    localities: list[Localities] | None = None,
    ties: np.ndarray | None = None,
) -> np.ndarray:
    """Per pair of accounts: ``-log10`` of the chance that it shares what it shares beyond
    one entity of each type given both accounts' activity (:func:`graph.rings.null_model.
    pair_log_chance`; with ``localities``, the likeliest of the type-wide null and the
    locality null of each scale), less ``log10`` of the pairs the search could have found like it.
    Entities only the two accounts use count once per type, whatever the pair's timing: a
    couple living alone shares a tablet, a laptop and a joint card no one else uses (review
    F6), and takes turns on them of an evening, minutes apart, as colluders do (issue 19), so
    a second such entity of a type is no evidence; the pair's episodes are judged apart
    (:func:`graph.rings.pairs.episode_log_chance`).
    With ``ties`` (per entity: those that tie accounts, rare ones), a household's pair
    (:func:`graph.rings.pairs.household_pairs`) has chance 1 (a family shares what it shares),
    and the households' pairs and the others are two families of tests, each charged for its
    own pairs and its share of the chance (:data:`HOUSEHOLD_SHARE` the households'; a union
    bound over both families).

    A pair sharing an entity of each type in a set ``S`` (every type it shares, once or
    more: those shared once add nothing to the chance but narrow the pairs it is one of) is
    one of the pairs co-using an entity of every type in ``S``
    (:func:`graph.rings.pairs.co_user_pair_counts`; at most ``min_{t in S} sum_e C(d_e, 2)``,
    ``e`` of type ``t``, the bound taken where that count is too costly), and there are
    ``2^T - 1`` such sets (a union bound over both). Only ``counted`` entities (not hubs)
    are shared, make a type's expected sharing or make co-users; each account's activity
    counts all its entities of the type.
    """
    if shared.shape[0] == 0 or n_types == 0:
        return np.zeros(shared.shape[0])
    binary = (uses > 0).astype(np.float64).tocsc()
    degree = np.asarray(binary.getnnz(axis=0), np.float64)
    kept = np.flatnonzero(counted)
    type_pairs = np.bincount(codes[kept], weights=degree[kept] * (degree[kept] - 1.0),
                             minlength=n_types)
    type_edges = np.bincount(codes, weights=degree, minlength=n_types)
    by_type = sp.csr_matrix((counted.astype(np.float64), (np.arange(len(codes)), codes)),
                            shape=(len(codes), n_types))
    per_type = np.asarray(((shared > 0).astype(np.float64) @ by_type).todense())
    only_two = (degree == 2) & counted
    exclusive = np.asarray(((shared > 0).multiply(only_two[None, :]).astype(np.float64)
                            @ by_type).todense())
    activity = type_degrees(uses, codes, n_types)
    first = membership.tocsr()
    first.sort_indices()
    a, b = first.indices[0::2], first.indices[1::2]
    local = (np.max([pair_locality_mean(a, b, scale, n_types) for scale in localities], axis=0)
             if localities else None)
    # a couple living alone shares as many things only the two use as it has: those beyond
    # one of a type are no evidence
    chance = pair_log_chance(per_type - np.maximum(exclusive - 1.0, 0.0), activity[a],
                             activity[b], type_pairs, type_edges, local)
    sets, which = np.unique(per_type >= 1, axis=0, return_inverse=True)
    bound = np.where(per_type >= 1, type_pairs / 2.0, np.inf).min(axis=1)
    share = np.ones(len(a))
    if ties is None:
        co_users = co_user_pair_counts(uses, codes, counted, sets)[which.ravel()]
    else:
        # households' pairs and the others are two families of tests, each charged for its own
        # pairs and its share of the chance: a household's sharing is no evidence
        tied = household_ties(uses, ties)
        household = household_pairs(tied, a, b, None)
        chance = np.where(household, 0.0, chance)
        every, others = co_user_pair_counts(
            uses, codes, counted, sets,
            kept_pairs=lambda x, y: ~household_pairs(tied, x, y, None))[:, which.ravel()]
        co_users = np.where(household, every - others, others)
        share = np.where(household, HOUSEHOLD_SHARE, 1.0 - HOUSEHOLD_SHARE)
    co_users = np.minimum(co_users, bound)
    co_users = np.where(np.isfinite(co_users), co_users, type_pairs.sum() / 2.0)
    return (-chance - np.log10(np.maximum(co_users, 1.0)) - np.log10(2.0 ** n_types - 1.0)
            + np.log10(share))


def _masked_entries(
    matrix: sp.csr_matrix, mask: sp.csr_matrix, rows: np.ndarray, cand: np.ndarray,
    chunk: int = _CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """The stored values of ``matrix[rows[k]]`` in the columns set in ``mask[cand[k]]``, over
    all member entries ``k``, and the ``cand[k]`` of each, ``chunk`` entries at a time."""
    matrix, mask = matrix.tocsr(), mask.tocsr()
    values, owners = [np.zeros(0)], [np.zeros(0, dtype=np.int64)]
    for start in range(0, len(rows), chunk):
        stop = start + chunk
        part = matrix[rows[start:stop]].multiply(mask[cand[start:stop]]).tocoo()
        values.append(np.asarray(part.data, np.float64))
        owners.append(np.asarray(cand[start:stop])[part.row])
    return np.concatenate(values), np.concatenate(owners)


def _masked_row_sums(
    matrix: sp.csr_matrix, mask: sp.csr_matrix, rows: np.ndarray, cand: np.ndarray,
    chunk: int = _CHUNK,
) -> np.ndarray:
    """Per member entry ``k``: the sum of ``matrix[rows[k]]`` over the columns set in
    ``mask[cand[k]]``, taken ``chunk`` entries at a time (all at once, the row copies took
    several GB at a million accounts)."""
    matrix, mask = matrix.tocsr(), mask.tocsr()
    out = np.zeros(len(rows))
    for start in range(0, len(rows), chunk):
        stop = start + chunk
        part = matrix[rows[start:stop]].multiply(mask[cand[start:stop]])
        out[start:stop] = np.asarray(part.sum(axis=1)).ravel()
    return out


def _own_places(membership: sp.csr_matrix, uses: sp.csr_matrix, shared: sp.csr_matrix,
                entity_degree: np.ndarray, places: PlaceUsers, min_users: int) -> sp.csr_matrix:
    """Groups x entities, 1 at each group's own places: places
    (:func:`graph.rings.places.place_users`) used by at least ``min_users`` of its members
    (``shared``: members per group and entity), by nobody else, and by members most of whom
    have no home of their own (a farm's machines; a company's staff on its office network
    have homes)."""
    own = shared.tocsr(copy=True)
    own.data = own.data * (places.places[own.indices] & (own.data >= min_users)
                           & (own.data >= entity_degree[own.indices]))
    own.eliminate_zeros()
    homed_on = (membership.multiply(places.homed[None, :].astype(np.float64)) @ uses).multiply(
        own > 0)
    margin = (own - 2.0 * homed_on).tocsr()
    margin.data = (margin.data > 0).astype(np.float64)
    margin.eliminate_zeros()
    return margin


def _core_entries(
    uses: sp.csr_matrix, chance: sp.csr_matrix, eligible: np.ndarray, rows: np.ndarray,
    cand: np.ndarray, explained: tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray] | None = None,
    chunk: int = _CHUNK,
) -> np.ndarray:
    """Per member entry ``k``: whether it is in the core of group ``cand[k]``, the members
    tied by rare entities (:func:`graph.rings.peeling.pendant_free_cores`).

    A group's rare entities are the ``eligible`` (non-hub) ones whose sharing has a log10
    ``chance`` (groups x entities, :func:`graph.rings.null_model.sharing_log_chance`) at most
    ``-CORE_MIN_RARITY``. Members and rare entities form a graph per group (a member is joined
    to the rare entities it uses); the core is its largest part (among equals the one holding
    the rarest entity), less the parts that hang off it through one member: a household
    sharing its home device and IP with one ring member is left out, and so are members that
    use none of the rare entities. With ``explained`` (:func:`graph.rings.places.explained_uses`
    and each group's :func:`_arrived_together`) a use a place explains ties nothing: a hostel's
    families on its PCs are not a farm's core for the farm's sharing of them.
    """
    rarity = (-chance).multiply(eligible[None, :].astype(np.float64)).tocsr()
    rarity.data[rarity.data < CORE_MIN_RARITY] = 0.0
    rarity.eliminate_zeros()
    if rarity.nnz == 0:
        return np.zeros(len(rows), dtype=bool)
    rarity.sort_indices()
    index = rarity.copy()
    index.data = np.arange(1, index.nnz + 1, dtype=np.float64)
    used = (uses.tocsr() > 0).astype(np.float64)
    member, node = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for start in range(0, len(rows), chunk):
        at, of = rows[start:start + chunk], cand[start:start + chunk]
        part = used[at]
        if explained is not None:
            apart, together, arrived = explained
            joined = arrived[of].astype(np.float64)[:, None]
            part = part - apart[at].multiply(1.0 - joined) - together[at].multiply(joined)
        part = part.multiply(index[of]).tocoo()
        positive = part.data > 0
        member.append(part.row[positive].astype(np.int64) + start)
        node.append(part.data[positive].astype(np.int64) - 1)
    member, node = np.concatenate(member), np.concatenate(node)
    counts = np.diff(rarity.indptr)
    rarest = np.full(rarity.shape[0], -1, dtype=np.int64)
    has = counts > 0
    order = np.lexsort((-rarity.data, np.repeat(np.arange(rarity.shape[0]), counts)))
    rarest[has] = order[rarity.indptr[:-1][has]]
    return pendant_free_cores(member, node, cand, rarest)


def _first_activity(edges: pd.DataFrame, transfers: pd.DataFrame, n_accounts: int
                    ) -> np.ndarray:
    """Each account's first use or transfer (epoch s; ``-1`` unknown)."""
    big = np.iinfo(np.int64).max
    first = np.full(n_accounts, big, dtype=np.int64)
    for acct, ts in ((edges["row"], edges["first_ts"]), (transfers["src"], transfers["ts"]),
                     (transfers["dst"], transfers["ts"])):
        acct, ts = np.asarray(acct, dtype=np.int64), np.asarray(ts, dtype=np.int64)
        known = ts >= 0
        np.minimum.at(first, acct[known], ts[known])
    return np.where(first == big, -1, first)


def _synchrony(first: np.ndarray, cand: np.ndarray, rows: np.ndarray, n_groups: int
               ) -> np.ndarray:
    """1 - std of members' first activity time (``first``: :func:`_first_activity`) / std over
    all accounts, clipped to [0, 1]."""
    active = first >= 0
    if active.sum() < 2:
        return np.zeros(n_groups)
    overall = float(np.std(first[active].astype(np.float64)))
    table = pd.DataFrame({"cand": cand, "ts": np.where(active[rows], first[rows], np.nan)})
    spread = table.groupby("cand")["ts"].std(ddof=0).reindex(range(n_groups)).to_numpy()
    if overall == 0:
        return np.where(np.isnan(spread), 0.0, 1.0)
    return np.clip(1.0 - np.nan_to_num(spread, nan=overall) / overall, 0.0, 1.0)


#: The share of a group's members whose arrivals :func:`_arrival_spans` leaves out at each end.
ARRIVAL_TAIL = 0.1


def _arrival_spans(first: np.ndarray, cand: np.ndarray, rows: np.ndarray, n_groups: int
                   ) -> np.ndarray:
    """Per group: seconds between the first activity (``first``: :func:`_first_activity`) of
    its members at the :data:`ARRIVAL_TAIL` and ``1 - ARRIVAL_TAIL`` quantiles (members of
    unknown time left out; 0 with fewer than two known)."""
    known = first[rows] >= 0
    ts, owner = first[rows][known], cand[known]
    order = np.lexsort((ts, owner))
    ts, owner = ts[order], owner[order]
    counts = np.bincount(owner, minlength=n_groups)
    start = np.r_[0, np.cumsum(counts)[:-1]]
    spans = np.zeros(n_groups)
    has = counts >= 2
    low = start[has] + np.floor(ARRIVAL_TAIL * (counts[has] - 1)).astype(np.int64)
    high = start[has] + np.ceil((1.0 - ARRIVAL_TAIL) * (counts[has] - 1)).astype(np.int64)
    spans[has] = ts[high] - ts[low]
    return spans


def _internal_flow_table(transfers: pd.DataFrame, membership: sp.csr_matrix,
                         block: int = _CHUNK) -> pd.DataFrame:
    """Transfers between two members of a candidate: ``src, dst, count, ts, last, amount,
    cand``, sorted by candidate and accounts (then transfer), one row per (transfer,
    candidate), each named by its rank by transfer and candidate.

    The transfers of ``block`` of them at a time meet their ends' candidates (a join of the
    transfers with every candidate of their payer first was GBs at a million accounts).
    """
    columns = ["src", "dst", "count", "ts", "last", "amount"]
    by_account = membership.T.tocsr()
    src, dst = transfers["src"].to_numpy(np.int64), transfers["dst"].to_numpy(np.int64)
    found, cands = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for start in range(0, len(src), block):
        both = by_account[src[start:start + block]].multiply(
            by_account[dst[start:start + block]]).tocoo()
        found.append(both.row.astype(np.int64) + start)
        cands.append(both.col.astype(np.int64))
    transfer, cand = np.concatenate(found), np.concatenate(cands)
    name = np.empty(len(transfer), dtype=np.int64)
    name[np.lexsort((cand, transfer))] = np.arange(len(transfer))
    order = np.lexsort((transfer, dst[transfer], src[transfer], cand))
    table = transfers[columns].iloc[transfer[order]]
    table.index = pd.Index(name[order])
    return table.assign(cand=cand[order].astype(membership.indices.dtype))


def _internal_transfers(inside: pd.DataFrame, ids: pa.Array, limit: int
                        ) -> tuple[np.ndarray, pa.Array]:
    """``(cand, "Transfer:src->dst")`` of the first ``limit`` transfers (by account row)
    between two members of each candidate (:func:`_internal_flow_table`); ``ids`` are the
    account ids by row."""
    cand = inside["cand"].to_numpy(np.int64)
    first = np.arange(len(cand)) - np.searchsorted(cand, cand) < limit
    src, dst = inside["src"].to_numpy(np.int64)[first], inside["dst"].to_numpy(np.int64)[first]
    return cand[first], pc.binary_join_element_wise("Transfer:", ids.take(src), "->",
                                                    ids.take(dst), "")


def _collected_links(inside: pd.DataFrame, collected: np.ndarray, n_groups: int) -> np.ndarray:
    """Per candidate: its pairs of members linked by contributions to a collection only
    (``collected``, per row of :func:`_internal_flow_table`:
    :func:`graph.rings.flow_null.contributions`), either direction."""
    src, dst = inside["src"].to_numpy(np.int64), inside["dst"].to_numpy(np.int64)
    pairs = pd.DataFrame({"cand": inside["cand"].to_numpy(np.int64),
                          "low": np.minimum(src, dst), "high": np.maximum(src, dst),
                          "collected": collected})
    only = pairs.groupby(["cand", "low", "high"], sort=False)["collected"].all()
    return np.bincount(only.index.get_level_values(0)[only.to_numpy()].to_numpy(np.int64),
                       minlength=n_groups)


def _internal_ties(inside: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``cand, src, dst`` (account rows) of every distinct pair with a transfer between two
    members of a candidate (:func:`_internal_flow_table`)."""
    pairs = inside[["cand", "src", "dst"]].drop_duplicates()
    return (pairs["cand"].to_numpy(np.int64), pairs["src"].to_numpy(np.int64),
            pairs["dst"].to_numpy(np.int64))


def _judged_surprise(judged: list[tuple[np.ndarray, float, int]], rows: np.ndarray,
                     cand: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group (member entries ``rows`` / ``cand``): the surprise of the flow group its
    search judged (``(rows, log10 chance, tests)``) with exactly its members (a wider group
    would carry others on that group's evidence), ``-log_chance - log10 tests - log10 2`` (the
    search's tests, and this test beside the money null), and the same with the chance held to
    ``GROUP_TERM_CAP`` orders (one group-level test:
    :func:`graph.rings.null_model.robust_surprise`); ``-inf`` where none."""
    own = np.full(n_groups, -np.inf)
    robust = np.full(n_groups, -np.inf)
    if not judged:
        return own, robust
    by_first: dict[int, list[tuple[frozenset[int], float, int]]] = {}
    for members, log_chance, tests in judged:
        by_first.setdefault(int(np.min(members)), []).append(
            (frozenset(int(r) for r in members), log_chance, tests))
    candidates = np.unique(cand[np.isin(rows, np.fromiter(by_first, np.int64))])
    bounds = np.searchsorted(cand, np.arange(n_groups + 1))
    for g in candidates.tolist():
        inside = frozenset(rows[bounds[g]:bounds[g + 1]].tolist())
        for row in inside & by_first.keys():
            for members, log_chance, tests in by_first[row]:
                if members == inside:
                    charge = np.log10(max(tests, 1)) + np.log10(2.0)
                    own[g] = max(own[g], -log_chance - charge)
                    robust[g] = max(robust[g], min(-log_chance, GROUP_TERM_CAP) - charge)
    return own, robust


def _exact_groups(wanted: list[np.ndarray], groups: list[np.ndarray]) -> np.ndarray:
    """Per ``wanted`` set of account rows (sorted, distinct): the index of the group among
    ``groups`` (each sorted, distinct, as merged) with exactly those rows, ``-1`` where none."""
    if not wanted:
        return np.zeros(0, dtype=np.int64)
    index = {np.asarray(g, np.int64).tobytes(): i for i, g in enumerate(groups)}
    return np.array([index.get(np.asarray(w, np.int64).tobytes(), -1) for w in wanted],
                    dtype=np.int64)


def _burst_evidence(bursts: list[Burst], at: np.ndarray, limit: int
                    ) -> tuple[np.ndarray, pa.Array]:
    """``(cand, text)`` of the first ``limit`` evidence items of each burst whose group is
    ``at`` (``-1``: none)."""
    cands: list[int] = []
    texts: list[str] = []
    for burst, group in zip(bursts, at.tolist(), strict=True):
        if group >= 0:
            found = burst.evidence[:limit]
            cands += [group] * len(found)
            texts += found
    return np.asarray(cands, dtype=np.int64), pa.array(texts, pa.string())


def _flows_by_first_row(
    flow_evidence: list[tuple[np.ndarray, list[str]]],
) -> dict[int, list[tuple[frozenset[int], list[str]]]]:
    """Flow groups' member sets and evidence, indexed by their smallest row."""
    index: dict[int, list[tuple[frozenset[int], list[str]]]] = {}
    for rows, evidence in flow_evidence:
        members = frozenset(int(r) for r in rows)
        index.setdefault(min(members), []).append((members, list(evidence)))
    return index


def _flow_evidence_of(
    members: np.ndarray, flows_by_first: dict[int, list[tuple[frozenset[int], list[str]]]],
) -> list[str]:
    """The evidence of every flow group all of whose accounts are in ``members``."""
    if not flows_by_first:
        return []
    inside = frozenset(np.asarray(members).tolist())
    found: list[str] = []
    for row in sorted(inside):
        for group, evidence in flows_by_first.get(row, ()):
            if group <= inside:
                found += [e for e in evidence if e not in found]
    return found
