"""Settings of the ring-candidate search, with defaults and a YAML loader."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class RingConfig:
    """Settings of :func:`graph.rings.candidates.find_ring_candidates`.

    Parameters
    ----------
    min_size, max_size
        Bounds on the number of accounts in a candidate ring.
    hub_degree_cap
        Entities used by more accounts than this are hubs (carrier NAT, public Wi-Fi, office
        machines): they contribute only a sampled chain of pairs to the projection, never their
        k^2 pairs, and are recorded in ``Projection.cut_entities``.
    min_edge_weight
        Projection edges lighter than this are dropped before communities are searched. An entity
        shared by ``d`` accounts adds ``1 / log(d)`` to each pair, so one shared entity of degree
        up to ``exp(1 / min_edge_weight)`` links a pair on its own.
    flow_weight
        Multiplier of a money flow (``TRANSACTED_WITH``) in the projection.
    component_weights
        Link weights at which the connected components of the projection (within the size
        bounds) are candidates too, next to the Leiden communities at ``min_edge_weight``.
    max_component_size
        Components of those link weights up to this size are candidates too (at least
        ``max_size``; 0: ``2 * max_size``): a payment ring joined to the households of its
        members is whole in such a component, over ``max_size``, and its label-free core (the
        households cut as pendant parts) or its scored members are the ring, where the Leiden
        communities cut it into pieces.
    whole_groups
        Off by default. On, groups of more than ``component_size_limit`` accounts that the
        community and dense-block searches find (a Leiden community before it is split, a
        peeled block) are candidates whole up to ``max_group_size`` accounts, beside their
        pieces. Such a group is judged by its home (``place_types``): a library's or hostel's
        120-150 patrons on its 3 public PCs behind its 2 Wi-Fi IPs are one place's users (review
        R6: judged by a type each they were a ring at surprise 70-131), and only the sharing
        of more accounts than a household counts as its evidence. Known honest look-alikes it
        reports (measured, benchmarks/README.md session 24): groups sharing payment
        instruments beyond a household (company or department cards, a place's card terminal)
        whose members arrive within ``whole_group_arrival_s`` of each other (120-150 at
        surprise 45-198 with every use at one time).
    place_types
        Entity types one place's events carry together (a building's PCs and the Wi-Fi IPs they
        sit behind: a login's device and IP): for a group over ``max_size`` they are one kind
        of type when its home is chosen (:func:`graph.rings.localities.home_types`), so a
        hostel's or library's patrons owning localities of both are explained by them as one
        place, while the cards they or a farm share stay evidence.
    whole_group_arrival_s
        With ``whole_groups``, a group of more than ``max_size`` accounts is a candidate only
        when its members arrived together: the middle 80% of their first activities lie within
        this many seconds (7 days; the shapes battery's farms are created within 2). A farm's
        accounts have no life before the farm, a hostel's travellers, an office's staff or a
        sales team on pool laptops and department cards arrive over months and years (review
        R14: such teams sharing 4-6 cards were reported whole at surprise 141-198). The
        evasion it opens: a farm whose accounts are created over more than that is judged in
        pieces of up to ``max_size`` only (as with ``whole_groups`` off).
    place_min_users, place_life_s
        Places (:mod:`graph.rings.places`, review R15): a place-type entity (``place_types``)
        whose uses spread over at least ``place_life_s`` seconds (14 days) and that at least
        ``place_min_users`` (10) living accounts use (each active over at least
        ``place_life_s`` and using an entity at most a household uses: a phone, a family's
        card, ``graph.rings.pairs.HOUSEHOLD_MAX``) is a place (an office's hot
        desks, a hostel's or library's PCs and Wi-Fi): any group's living members' sharing of
        it is no evidence; that of members without a home of their own (a device or IP
        nobody else uses, used over ``place_life_s``, beside another place-type entity that
        is no place) only unless most of them were created within the log within
        ``whole_group_arrival_s`` of each other or within their median life, most of them
        first used one payoff-type entity ``place_life_s`` into their lives after an earlier
        order, far beyond that entity's usual course, and most were quiet
        ``place_life_s`` before the log ends (a farm kept alive for weeks on its own machines,
        then paid off and left). The count is
        more than a household's and than the 2-9 members per shared entity of the generated
        20k world's planted rings; a farm's accounts (signup, one order, quiet) have no life.
        The evasion it opens: a farm whose accounts each hold an entity of their own and act
        for weeks on machines it uses for weeks, paying off early or kept alive to the log's
        end (or created over longer than each lives), is judged by its shared cards and
        timing only (reviews R25, R33).
    payoff_types
        Entity types whose first use ``place_life_s`` into most of a cohort's lives is a farm's
        payoff after aging (:func:`graph.rings.candidates._arrived_together`): promo codes
        (the welcome code redeemed by every aged account), and only a code whose other new
        users rarely first used it that late (:func:`graph.rings.places.converged`: a sale
        code anyone redeems when the sale runs is none). A seller is none: seasonal workers
        all buying the coach ticket home from one company at their season's end were a ring
        (review R38). A log whose bonus codes (welcome, referral, voucher) have no entity of
        these types gets no such finding: map them to ``Promo`` or name their type here.
    max_group_size
        With ``whole_groups``, groups of more than ``component_size_limit`` accounts that the
        community and dense-block searches find are candidates whole up to this many accounts
        (at least ``max_size``; also the bound of :mod:`graph.rings.scored`'s groups), beside
        their pieces:
        a promo farm of 200 accounts on a few devices, cards and IPs is one group whose sharing
        the null model judges as a whole; cut into pieces of ``max_size`` each looked like one
        card's users. Such a group stays a candidate only when its sharing is significant
        (``min_surprise``); a group that owns the localities of its sharing is judged by them
        in one kind of entity type only (:func:`graph.rings.localities.home_types`), picked as
        that home's users (:func:`graph.rings.localities.home_anchors`), and an entity's
        users in it count beyond one household's (``graph.rings.pairs.HOUSEHOLD_MAX``).
    split_bridges
        Split each such component where single links tie parts of at least ``min_size``
        accounts (:func:`graph.rings.communities.split_at_bridges`): two rings tied by one
        account pair are two candidates, not their union.
    resolution
        Resolution of the Leiden (modularity) split of oversized components.
    peel_blocks
        FRAUDAR-style peels per connected component of the account x entity graph (0 disables
        them; communities are still peeled to their dense cores).
    lockstep_window_s
        Width in seconds of the windows in which accounts touching the same entity act together.
    flow_max_pair_count
        Transfers between one pair at most this often are one-off transfers; flow shapes are
        searched among single, one-off and repeated transfers (see
        :func:`graph.rings.flows.pair_count_tiers`).
    flow_leaf_max_degree
        Counterparties of a star with more distinct counterparties than this are hubs, not leaves.
    flow_min_fan
        Minimum number of leaves of a fan-in / fan-out star.
    flow_window_s
        Width in seconds of the windows in which transfers form a cycle.
    flow_period_max_days, flow_period_day_s
        Periodic fans (:mod:`graph.rings.periodic`): an account's one-off counterparties are
        judged for a schedule (distinct counterparties, one every so many days) when they start
        on at least ``flow_min_fan`` and at most this many distinct days of this many seconds
        (busier accounts keep schedules by chance; the search stays linear). One-shot fans
        (:mod:`graph.rings.one_shot`) judge accounts with at most this many one-off
        counterparties.
    flow_hop_s
        Money-flow typologies (:mod:`graph.rings.typologies`): money an account receives is
        passed on when it leaves within this many seconds (2 days: mules move money within hours
        or days, salaries and rent stay).
    flow_min_conserved, flow_max_conserved
        ... when what leaves in that window is this share of what came in (0.85 .. 1.02: a mule
        keeps a cut of a few percent; honest spending rarely adds up to the money received).
        Defaults chosen on a generated world of seed 1 (``configs/synth-flows.yaml``), not on
        the test seeds.
    flow_pass_max_degree
        Accounts with more transfer pairs than this in or out (merchants, marketplaces, payroll)
        are neither pass-through accounts nor members of a typology.
    flow_span_s
        A typology is cut to the linked transfers within this many seconds (7 days) around
        their money-weighted median time.
    flow_chain_min_pass
        A chain passes money through at least this many accounts (its last one cashing out
        counts; two chance matches in a row are common among ordinary transfers, three rare).
    flow_chain_amounts
        Off by default (not yet gated on the real datasets). On, a group's chains of conserved
        amounts count without their timing (:func:`graph.rings.flow_null.chain_log_chance`):
        mules alive one week passing the money round at random times within it (review R17).
    flow_min_pass
        Every typology passes money through at least this many accounts (2: a fan's hub and a
        leaf that moves the money on; an ordinary payer spending what came in on a few payees
        is a fan with one).
    flow_bipartite_min_density
        A bipartite group's transfers cover at least this share of its sender x receiver pairs.
    dedupe_jaccard
        Candidates whose member sets overlap at least this much (Jaccard) are merged.
    max_evidence
        At most this many evidence items are kept per candidate.
    min_surprise
        Candidates whose sharing chance explains are dropped: those with a null-model surprise
        (:mod:`graph.rings.null_model`: about ``-log10`` of the number of groups this tight that
        chance alone would make) below this. 2.0 (chance makes about one such group in a
        hundred) is the highest of 0, 2, 4 that kept the candidate recall of the planted rings
        of a generated 20k world (seed 7) and of the AMLSim training rings (seed 0) within 0.05
        of no filter; never chosen on a test split (benchmarks/README.md, "Rings on real
        data").
    pairs
        Also list pairs of accounts sharing two or more rare entities (:mod:`graph.rings.pairs`)
        as candidates of kind ``pair``; the null model decides whether they are reported.
    pair_max_degree
        Entities used by more accounts than this do not tie a pair.
    chance_pairs
        Also list the pairs' own candidates that chance explains (under ``min_surprise``),
        marked with the feature ``chance_pair``: a run with account scores judges them by their
        members' scores (:func:`graph.rings.anchored.paired_candidates`); without scores none of
        them is reported. ``abusenet run`` sets it when a model scores the accounts and
        ``ring_scoring.pair_fdr`` is set.
    locality
        Judge sharing under the locality-aware null too (:mod:`graph.rings.localities`): an
        entity's chance of being shared is the larger of the type-wide one and the one within
        its locality (a town's terminals, a city's restaurants), so neighbours meeting near
        home are no ring.
    locality_resolutions
        Leiden resolutions of the localities (higher: smaller ones), one partition each; an
        entity's chance is the largest over them, so neighbourhoods of every scale are expected
        (modularity's scale shifts with the graph's size, one resolution fits no world).
    locality_nested
        Learn the scales nested (:func:`graph.rings.localities.find_locality_scales`): one
        Leiden run on the whole graph, each coarser scale on the finer one's communities (at 200k
        accounts 24 instead of 44 CPU s); off, each resolution partitions the whole graph (its
        localities at low resolutions differ: 15 instead of 294 at resolution 1 there).
    locality_min_users
        A locality's entities are used by at least this many accounts, and always by more than
        ``max_size`` (so no ring of up to ``max_size`` can be a locality of its own; a bigger
        group is judged by the localities it owns in one type only,
        :func:`graph.rings.localities.home_types`).
    bursts
        Search entity arrival bursts (:mod:`graph.rings.bursts`): the fresh accounts an entity
        gains far tighter in time than its type does (one device's accounts created within
        minutes, a seller's history-less raters within a day).
    burst_fresh_s
        An account's first use of an entity is a fresh arrival when it is at most this many
        seconds after the account's first event (1 day: an account signs up, adds its card and
        buys or rates on its first day); also how soon after its first use an account's
        every use of a sign-up desk ends (:mod:`graph.rings.places`, review R45).
    takeovers
        Search account takeovers (:mod:`graph.rings.takeovers`) where the log has failed
        attempts (a mapping's ``failed:``): accounts with a history of their own arriving at
        entities new to them with a failed attempt first (credential stuffing).
    seed_min_score
        With account scores, accounts scoring at least this (a calibrated probability) seed the
        ``scored_component`` and ``scored_core`` candidates.
    seed
        Seed of every random choice (hub sampling, Leiden).
    """

    min_size: int = 3
    max_size: int = 50
    hub_degree_cap: int = 200
    min_edge_weight: float = 0.3
    flow_weight: float = 1.0
    component_weights: tuple[float, ...] = (0.5, 0.7, 1.0, 1.4)
    max_component_size: int = 0
    whole_groups: bool = False
    max_group_size: int = 1000
    place_types: tuple[str, ...] = ("Device", "IP")
    whole_group_arrival_s: float = 7 * 86400.0
    place_min_users: int = 10
    place_life_s: float = 14 * 86400.0
    payoff_types: tuple[str, ...] = ("Promo",)
    split_bridges: bool = True
    resolution: float = 1.0
    peel_blocks: int = 20
    lockstep_window_s: float = 3600.0
    flow_max_pair_count: int = 2
    flow_leaf_max_degree: int = 10
    flow_min_fan: int = 3
    flow_window_s: float = 30 * 86400.0
    flow_period_max_days: int = 64
    flow_period_day_s: float = 86400.0
    flow_hop_s: float = 2 * 86400.0
    flow_min_conserved: float = 0.85
    flow_max_conserved: float = 1.02
    flow_pass_max_degree: int = 60
    flow_span_s: float = 7 * 86400.0
    flow_chain_min_pass: int = 3
    flow_chain_amounts: bool = False
    flow_min_pass: int = 2
    flow_bipartite_min_density: float = 0.5
    dedupe_jaccard: float = 0.9
    max_evidence: int = 20
    min_surprise: float = 2.0
    pairs: bool = True
    pair_max_degree: int = 10
    chance_pairs: bool = False
    locality: bool = True
    locality_resolutions: tuple[float, ...] = (1.0, 4.0, 16.0, 64.0)
    locality_nested: bool = False
    locality_min_users: int = 100
    bursts: bool = True
    burst_fresh_s: float = 86400.0
    takeovers: bool = True
    seed_min_score: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "component_weights", tuple(map(float, self.component_weights)))
        object.__setattr__(self, "place_types", tuple(map(str, self.place_types)))
        object.__setattr__(self, "payoff_types", tuple(map(str, self.payoff_types)))
        object.__setattr__(self, "locality_resolutions",
                           tuple(map(float, self.locality_resolutions)))
        if not 2 <= self.min_size <= self.max_size:
            raise ValueError(
                f"ring config: need 2 <= min_size <= max_size, got min_size={self.min_size}, "
                f"max_size={self.max_size}"
            )
        if self.max_component_size and self.max_component_size < self.max_size:
            raise ValueError(
                f"ring config: need max_component_size >= max_size (or 0), got "
                f"max_component_size={self.max_component_size}, max_size={self.max_size}"
            )
        if self.max_group_size < self.max_size:
            raise ValueError(
                f"ring config: need max_group_size >= max_size, got "
                f"max_group_size={self.max_group_size}, max_size={self.max_size}"
            )
        if not 0.0 <= self.seed_min_score <= 1.0:
            raise ValueError(
                f"ring config: seed_min_score must be in [0, 1], got {self.seed_min_score}"
            )
        if self.flow_period_max_days < 3 or self.flow_period_day_s <= 0:
            raise ValueError(
                f"ring config: need flow_period_max_days >= 3 and flow_period_day_s > 0, got "
                f"{self.flow_period_max_days} and {self.flow_period_day_s}"
            )
        if not 2 <= self.flow_min_fan <= self.flow_period_max_days:
            raise ValueError(
                f"ring config: need 2 <= flow_min_fan <= flow_period_max_days, got "
                f"{self.flow_min_fan} and {self.flow_period_max_days}"
            )
        if not self.lockstep_window_s > 0:
            raise ValueError(
                f"ring config: lockstep_window_s must be positive, got {self.lockstep_window_s}"
            )
        if not self.whole_group_arrival_s >= 0:
            raise ValueError(
                f"ring config: whole_group_arrival_s must be >= 0, got "
                f"{self.whole_group_arrival_s}"
            )
        if self.place_min_users < 2 or not self.place_life_s >= 0:
            raise ValueError(
                f"ring config: need place_min_users >= 2 and place_life_s >= 0, got "
                f"{self.place_min_users} and {self.place_life_s}"
            )
        if not self.burst_fresh_s >= 0:
            raise ValueError(
                f"ring config: burst_fresh_s must be >= 0, got {self.burst_fresh_s}"
            )
        if self.hub_degree_cap < 2:
            raise ValueError(f"ring config: hub_degree_cap must be >= 2, got {self.hub_degree_cap}")

    @property
    def component_size_limit(self) -> int:
        """The largest component of ``component_weights`` that is a candidate:
        ``max_component_size``, or ``2 * max_size`` when that is 0."""
        return self.max_component_size or 2 * self.max_size


def load_ring_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> RingConfig:
    """Read a :class:`RingConfig` from a YAML file (its ``rings:`` section or the top level).

    Unknown keys raise ``ValueError`` naming them and the known keys. ``overrides`` win over the
    file; with ``path`` None only the defaults and ``overrides`` are used.
    """
    values: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        values = dict(loaded.get("rings", loaded))
    values.update(overrides)
    known = {f.name for f in fields(RingConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"{path or 'ring config'}: unknown key(s) {unknown}; known keys are {sorted(known)}"
        )
    return RingConfig(**values)
