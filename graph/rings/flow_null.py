"""How surprising a group's money flows are by chance: a null model of transfer pairs.

A group tied by transfers is grown through them: the search's count of the groups it could
have picked (:func:`graph.rings.null_model.selection_log_count`) pays for its ``k - 1`` tree
links at each member's full number of counterparties, and
:func:`graph.rings.null_model.links_beyond_tree` for the links beyond those. What is left to
judge is *how* the money moved. The null keeps every transfer pair (``src``, ``dst``, how often it
transacted, how long it lasted) and, independently for each pair,

* **permutes when pairs start** among pairs that last about as long (last minus first
  transfer: a day or less, else the same power of two in days): a pair's first transfer is
  one of its *duration stratum*'s first transfers, drawn at random. Schedules running through
  the whole log all start when the log does, one-off transfers wherever the log's traffic
  is; a pair starting when its stratum's pairs rarely do is what a burst looks like. Where
  its accounts' lives are known (:class:`Lives`: activity besides transfers), the start is
  drawn among the stratum's starts within them: accounts opened for a week can start their
  pairs in that week only;
* **permutes which pairs repeat** among pairs whose payers are alike: whether a pair
  transacted once or repeatedly is drawn from the pairs whose payer has about as many
  counterparties (the same power of two). Accounts that pay a few counterparties on a
  schedule and those that pay hundreds once are both ordinary; a group joined by the one kind
  of pair its members' peers rarely make is not;
* **draws its amount** (the mean per transfer) from the amounts of the pairs of its class
  (once or repeated: the mean of many transfers is no single draw).

Under this null (:func:`money_log_chance`):

* the group's window (the span of its links' first transfers) is charged on the tree links:
  the likeliest link anchors the window, and each of the ``k - 2`` likeliest others starts
  inside it with the share of its stratum's pairs that do, times the number of links that
  could be the anchor (:func:`window_log_chance`);
* its links are charged the chance that so many of them are of one class, given their
  payers' peers (:func:`habit_log_chance`; groups of three or more: a pair of accounts is
  judged by what it shares, :func:`graph.rings.null_model.pair_log_chance`);
* a member forwarding what it received within ``hop_s`` in a conserved amount is a hop,
  charged how soon after the money came in pairs like the outgoing one start
  (:func:`hop_log_chance`; in a group where more than one member paid before being paid that
  amount, the money went round by a date, not by a relay, and the hops count no more than
  their order: :func:`order_log_chance`), or passes on the sum of several transfers
  in several others (:func:`gathered_log_chance`: a gather-scatter's hub), or passes on along
  one repeated route what one-off payers paid it over the route's span
  (:func:`routed_log_chance`: a mule paid by a new victim each week), or pays out with a
  card soon after what it received in a conserved amount (:func:`cash_out_log_chance`: the money
  leaves the group, card payment pairs judged as transfer pairs are), and a member receiving
  (or sending) ``min_fan`` or more transfers of nearly equal amounts a fan
  (:func:`fan_log_chance`; amounts within a cent of each other are a price, as likely as the
  log's other hubs are paid one: :func:`price_log_share`);
* a member's own money paid to a member collecting from the group in turn, and not passed on
  in it, is a contribution to a collection (:func:`contributions`: an office's gift
  collection), one occasion rather than a flow: a group holding contributions is judged again
  without them and the likelier reading of each term counts (``collected``), and pairs they
  alone join are no links beyond a spanning tree (:mod:`graph.rings.candidates`).

Only the tree links are charged their window (a group picked from an anchor entity's users
did not even pay for those); links beyond the tree keep the chance of their existence alone.
Window and class judge a group tied by money, every member with a transfer inside it: in a
group of 25 where 6 pass money round, they are evidence about the 6, which the search lists
on their own, not about the 25.
Each term is one statistic's tail or a union bound, and the members' hops are combined by
Fisher's method, their fans by the better of Fisher's and Bonferroni's (times two), so a large
group of ordinary flows gathers no evidence from many unremarkable ones, one strong fan is not
diluted by its ordinary amounts, and every term overestimates the chance (the surprise is
conservative).

What it explains: honest schedules (a payroll, rent, a merchant's regular suppliers) repeat
over the log, so the pairs that last as long, and their payers' peers, explain them; bursts of
one-off transfers between busy accounts are what busy accounts do; flatmates paying their
landlord the same rent once pay a price; colleagues taking turns to collect for a gift meet
again, they do not layer. What it does not: a
handful of accounts with few counterparties moving money among themselves in one-off
transfers inside a few days (AMLSim's alert cycles and fans), or mules repeating one route
within hours.

Everything is vectorised over the (group, transfer) entries: no Python loop per group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import gammaln
from scipy.stats import binom, chi2

from graph.rings.activity import near_counts
from graph.rings.flows import counterparty_degree

#: Transfers closer in time than this count as this close (clock resolution of a log).
MIN_GAP_S = 60.0
#: Classes of transfer pairs: made once, or repeated (``count >= 2``).
COUNT_CLASSES = 2
_LN10 = np.log(10.0)


def fisher_log10(log10_p: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group: log10 of Fisher's combination of its independent p-values (``log10_p``,
    each belonging to ``group``): ``P(chi2(2n) >= -2 sum ln p)``, 0 for a group with none.
    Summing log p-values instead would make any group with many ordinary ones look unlikely
    (a uniform p-value has a mean log10 of -0.43)."""
    out = np.zeros(n_groups)
    if len(log10_p) == 0:
        return out
    total = np.bincount(group, weights=-2.0 * _LN10 * np.asarray(log10_p), minlength=n_groups)
    count = np.bincount(group, minlength=n_groups)
    has = count > 0
    out[has] = chi2.logsf(total[has], 2.0 * count[has]) / _LN10
    return np.minimum(out, 0.0)


def omnibus_log10(log10_p: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group: log10 of the better of two combinations of its independent p-values, times
    two (a union bound over the two tests): Fisher's (:func:`fisher_log10`), which gathers
    many moderate p-values, and Bonferroni's (``n`` times the smallest), which keeps one
    strong p-value undiluted by ordinary ones beside it (a fan landing on a schedule whose
    amounts are unremarkable: Fisher's method costs it ``log10(1 - ln p)``, an order at
    ``p = 1e-6``, Bonferroni's ``log10(2)``). 0 for a group with none."""
    out = np.zeros(n_groups)
    if len(log10_p) == 0:
        return out
    log10_p = np.asarray(log10_p, np.float64)
    smallest = np.zeros(n_groups)
    np.minimum.at(smallest, group, log10_p)
    count = np.bincount(group, minlength=n_groups)
    bonferroni = smallest + np.log10(np.maximum(count, 1))
    best = np.minimum(fisher_log10(log10_p, group, n_groups), bonferroni)
    return np.where(count > 0, np.minimum(best + np.log10(2.0), 0.0), 0.0)


@dataclass(frozen=True)
class Lives:
    """Per account row: the first and last moment it is known alive from its activity besides
    transfers (signups, logins, the devices, IPs and cards it used; ``-inf`` / ``+inf`` where it
    has none: a log of transfers alone, AMLSim's, tells no account's life but by the transfers
    the null judges, which would explain them by themselves).

    A transfer pair can only start while both its accounts are alive, so the null draws its
    start among its stratum's starts within that life (stretched to hold what it judges:
    :func:`start_share`), not the whole log's. Accounts opened for a week's trip who settle up
    in a loop at its end make their transfers in that week whatever they do: 7 of 20 such loops
    of 8 (honest_flows ``trips``, seed 0) were reported without labels on their window alone
    (-13 to -18 orders against the two-year log) and a chance conserved hop timed against it
    (-3 to -13), about none against their own week. It opens an evasion: a ring of accounts
    alive for one campaign gets little evidence from the timing of its transfers, and what
    remains (amounts kept along hops, themselves timed within the lives; fans of nearly equal
    amounts; the quiet accounts of :mod:`graph.rings.quiet_cycles`; shared devices and IPs)
    may not carry it: a loop of 8 mules alive one week, each hop 96-99 % of the last, its
    transfers at random times over the week (not in loop order, so few are hops), was found
    19 of 20 times before and none after (session 24 review R17); with its transfers in loop
    order within 12 hours, 20 of 20 both. A term on the amounts' chain alone
    (a settle-up's amounts net debts, a laundering loop's each keep the last less a cut) is
    what such rings would need."""

    born: np.ndarray
    dies: np.ndarray

    @classmethod
    def of_activity(cls, first: np.ndarray, last: np.ndarray) -> Lives:
        """From per-row first and last activity times (epoch s), ``first > last`` where a row
        has none (as :func:`graph.rings.activity.account_activity` gives them)."""
        first, last = np.asarray(first), np.asarray(last)
        none = first > last
        return cls(np.where(none, -np.inf, first.astype(np.float64)),
                   np.where(none, np.inf, last.astype(np.float64)))

    def of(self, src: np.ndarray, dst: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
        """The life of account rows ``src`` (with ``dst``: when both are known alive)."""
        src = np.asarray(src, np.int64)
        born, dies = self.born[src], self.dies[src]
        if dst is not None:
            dst = np.asarray(dst, np.int64)
            born, dies = np.maximum(born, self.born[dst]), np.minimum(dies, self.dies[dst])
        return born, dies


def _lived(lives: Lives | None, src: np.ndarray, dst: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray] | None:
    """:meth:`Lives.of`, or None without lives."""
    return None if lives is None else lives.of(src, dst)


@dataclass(frozen=True)
class MoneyChance:
    """Per group, the log10 chance (<= 0) of its money flows (:func:`money_log_chance`).

    Attributes
    ----------
    shape
        Its hops and fans: their timing and amounts.
    window, habit
        Its tree links' window (:func:`window_log_chance`) and count class
        (:func:`habit_log_chance`), for a group whose transfers tie every member (0 for one
        where only some members transfer: that evidence is about them, not the group). Two
        tests of the whole group, kept apart so that neither alone can carry it
        (:func:`graph.rings.null_model.robust_surprise`).
    """

    shape: np.ndarray
    window: np.ndarray
    habit: np.ndarray

    @property
    def links(self) -> np.ndarray:
        """Its tree links' window and count class together (``window + habit``)."""
        return self.window + self.habit


def money_log_chance(
    internal: pd.DataFrame,
    transfers: pd.DataFrame,
    sizes: np.ndarray,
    hop_s: float,
    min_conserved: float,
    max_conserved: float,
    min_fan: int = 3,
    cash_outs: pd.DataFrame | None = None,
    lives: Lives | None = None,
    chains: bool = False,
    collected: np.ndarray | None = None,
) -> MoneyChance:
    """Per group: the log10 chance of its internal money flows under the module's null.

    Parameters
    ----------
    internal
        Transfer pairs between two members of a group: ``cand`` (group index), ``src``,
        ``dst`` (account rows), ``count``, ``ts`` and ``last`` (first and last transfer, epoch
        s, < 0 unknown) and ``amount`` (mean per transfer, <= 0 unknown).
    transfers
        Every transfer pair (:func:`graph.rings.flows.transfer_table`): the null's strata,
        starts and amounts.
    sizes
        Members per group (``k``).
    hop_s, min_conserved, max_conserved
        What makes a hop (:class:`graph.rings.config.RingConfig` ``flow_*``).
    min_fan
        Fewest transfers that make a fan.
    cash_outs
        Optional card payments (:func:`graph.rings.typologies.cash_out_table`: ``src``,
        ``ts``, ``amount``): a member cashing out what it received is one more hop
        (:func:`cash_out_log_chance`); None judges the transfers alone.
    lives
        Optional :class:`Lives` of the accounts: the window and the hops' timing are judged
        against the starts within their accounts' lives; None judges them against the log's.
    chains
        Also judge the group's chains of conserved amounts without their timing
        (:func:`chain_log_chance`); its hops' evidence is then the better of the two, times
        two.
    collected
        Optional, per row of ``internal``: the contributions to a collection
        (:func:`contributions`). A group holding any is judged again without them, and each
        term is the likelier of the two readings: a collection is no layering, and the rest
        of its money is no burst for being all that is left (an office's one collection
        whose collector paid into the next is one of twelve, not a fan-in on its own).
    """
    judged = _judged(internal, transfers, sizes, hop_s, min_conserved, max_conserved, min_fan,
                     cash_outs, lives, chains)
    if collected is None or not collected.any():
        return judged
    cand = internal["cand"].to_numpy(np.int64)
    holding = np.isin(cand, cand[collected])
    rest = _judged(internal[holding & ~collected], transfers, sizes, hop_s, min_conserved,
                   max_conserved, min_fan, cash_outs, lives, chains)
    again = np.zeros(len(sizes), dtype=bool)
    again[cand[collected]] = True
    return MoneyChance(*(np.where(again, np.maximum(before, after), before) for before, after in (
        (judged.shape, rest.shape), (judged.window, rest.window), (judged.habit, rest.habit))))


def _judged(internal: pd.DataFrame, transfers: pd.DataFrame, sizes: np.ndarray, hop_s: float,
            min_conserved: float, max_conserved: float, min_fan: int,
            cash_outs: pd.DataFrame | None, lives: Lives | None, chains: bool) -> MoneyChance:
    """:func:`money_log_chance` of every transfer pair of ``internal``."""
    sizes = np.asarray(sizes, np.float64)
    n_groups = len(sizes)
    repeated = transfers["count"].to_numpy() >= 2
    amounts = transfers["amount"].to_numpy(np.float64)
    pools = [np.sort(amounts[(repeated == bool(c)) & (amounts > 0)])
             for c in range(COUNT_CLASSES)]
    hops = hop_log_chance(internal, transfers, pools, hop_s, min_conserved, max_conserved,
                          n_groups, cash_outs, lives)
    if chains:
        chained = chain_log_chance(internal, pools[0], min_conserved, max_conserved, n_groups)
        hops = np.minimum(np.minimum(hops, chained) + np.log10(2.0), 0.0)
    shape = hops + fan_log_chance(internal, transfers, pools, n_groups, min_fan)
    tied = tied_members(internal, n_groups) >= sizes
    window = window_log_chance(internal, transfers, sizes, lives)
    return MoneyChance(shape=shape, window=np.where(tied, window, 0.0),
                       habit=np.where(tied, habit_log_chance(internal, transfers, sizes), 0.0))


def tied_members(internal: pd.DataFrame, n_groups: int) -> np.ndarray:
    """Per group: its members with a transfer with another member."""
    ends = pd.DataFrame({"cand": np.r_[internal["cand"].to_numpy(), internal["cand"].to_numpy()],
                         "acct": np.r_[internal["src"].to_numpy(), internal["dst"].to_numpy()]})
    ends = ends.drop_duplicates()
    return np.bincount(ends["cand"].to_numpy(np.int64), minlength=n_groups)


def count_class(count: np.ndarray | pd.Series) -> np.ndarray:
    """Class of each transfer pair: 0 made once, 1 repeated."""
    return (np.asarray(count) >= 2).astype(np.int64)


def _likeliest(values: np.ndarray, group: np.ndarray, skip: int, limit: np.ndarray
               ) -> np.ndarray:
    """Which entries to charge: per group, by value descending (likeliest first), those of
    rank ``skip`` up to (not including) ``limit[group]``."""
    order = np.lexsort((-values, group))
    grouped = group[order]
    starts = np.r_[0, np.flatnonzero(np.diff(grouped)) + 1] if len(grouped) else np.zeros(
        0, np.int64)
    rank = np.arange(len(grouped)) - np.repeat(starts, np.diff(np.r_[starts, len(grouped)]))
    keep = np.zeros(len(values), dtype=bool)
    keep[order] = (rank >= skip) & (rank < limit[grouped])
    return keep


def duration_strata(transfers: pd.DataFrame) -> np.ndarray:
    """Stratum of each transfer pair by how long it lasted (``last - ts``): 0 for one day or
    less (one-off transfers and bursts), then one per power of two in days."""
    return _stratum_of(np.asarray(transfers["ts"], np.float64),
                       np.asarray(transfers["last"], np.float64))


def _stratum_of(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """:func:`duration_strata` of pairs given as their first and last transfer."""
    lasting = np.maximum(last - first, 0.0) / 86400.0
    return np.floor(np.log2(np.maximum(lasting, 1.0))).astype(np.int64) + (lasting > 1.0)


def start_share(transfers: pd.DataFrame, stratum: np.ndarray, low: np.ndarray,
                high: np.ndarray, lived: tuple[np.ndarray, np.ndarray] | None = None
                ) -> np.ndarray:
    """Per query: the share of the transfer pairs of duration ``stratum``
    (:func:`duration_strata`) whose first transfer falls in ``[low, high]``, at least one
    pair's share (1 for a stratum without pairs). With ``lived`` (per query: the first and
    last moment the pair's accounts are both known alive, :meth:`Lives.of`), the share among
    the pairs starting in that life stretched to hold ``[low, high]``: a pair can only start
    while its accounts are alive (:class:`Lives`)."""
    starts = transfers["ts"].to_numpy(np.float64)
    known = starts >= 0
    starts = starts[known]
    pool = _stratum_of(starts, transfers["last"].to_numpy(np.float64)[known])
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    share = np.ones(len(stratum))
    for value in np.unique(stratum):
        mine = stratum == value
        sorted_starts = np.sort(starts[pool == value])
        share[mine] = sorted_share(sorted_starts, low[mine], high[mine])
        if lived is not None:
            born, dies = (np.asarray(x, np.float64)[mine] for x in lived)
            alive = sorted_share(sorted_starts, np.minimum(born, low[mine]),
                                 np.maximum(dies, high[mine]))
            share[mine] = np.minimum(share[mine] / alive, 1.0)
    return share


def window_log_chance(internal: pd.DataFrame, transfers: pd.DataFrame, sizes: np.ndarray,
                      lives: Lives | None = None) -> np.ndarray:
    """Per group: the log10 chance (<= 0) that its tree links start inside its window.

    A link starts inside the window (from its group's first to last link start) with the
    share of the pairs of its duration stratum (:func:`duration_strata`) whose first transfer
    does (its own included, :func:`start_share`; of those starting while its two accounts
    are alive, given their ``lives``). The likeliest link anchors the window; the
    ``k - 2`` likeliest others are charged, times the ``min(m, k - 1)`` links that could
    anchor it (``m`` links with a known time; a union bound). Groups of two: 0.
    """
    n_groups = len(sizes)
    out = np.zeros(n_groups)
    known = internal[internal["ts"] >= 0]
    if known.empty:
        return out
    cand = known["cand"].to_numpy(np.int64)
    ts = known["ts"].to_numpy(np.float64)
    first = np.full(n_groups, np.inf)
    last = np.full(n_groups, -np.inf)
    np.minimum.at(first, cand, ts)
    np.maximum.at(last, cand, ts)
    chance = np.log10(start_share(transfers, duration_strata(known), first[cand], last[cand],
                                  _lived(lives, known["src"], known["dst"])))
    tree = np.asarray(sizes, np.float64) - 1.0
    charged = _likeliest(chance, cand, 1, tree)
    np.add.at(out, cand[charged], chance[charged])
    anchors = np.minimum(np.bincount(cand, minlength=n_groups), tree)
    return np.where(out < 0, np.minimum(out + np.log10(np.maximum(anchors, 1.0)), 0.0), 0.0)


def habit_log_chance(internal: pd.DataFrame, transfers: pd.DataFrame, sizes: np.ndarray
                     ) -> np.ndarray:
    """Per group of three or more: the log10 chance (<= 0) that as many of its ``m`` links
    are in one count class (once, repeated) as are, each drawn from the pairs whose payer has
    as many counterparties to the power of two: ``P(Binomial(m, s) >= m_c)``, ``s`` the mean
    share of that class among its links' strata, for the class making it least likely, times
    ``COUNT_CLASSES``. A dense group of ordinary pairs holds both classes in their usual
    shares (no evidence); a loop of the one kind of pair its members' peers rarely make does
    not."""
    n_groups = len(sizes)
    out = np.zeros(n_groups)
    if internal.empty or transfers.empty:
        return out
    n = int(max(transfers["src"].max(), transfers["dst"].max(), internal["src"].max(),
                internal["dst"].max())) + 1
    stratum = np.floor(np.log2(np.maximum(counterparty_degree(transfers, n), 1))).astype(
        np.int64)
    peers = np.zeros((int(stratum.max()) + 1, COUNT_CLASSES))
    np.add.at(peers, (stratum[transfers["src"].to_numpy()], count_class(transfers["count"])),
              1.0)
    share = peers / np.maximum(peers.sum(axis=1, keepdims=True), 1.0)
    cand = internal["cand"].to_numpy(np.int64)
    links = np.bincount(cand, minlength=n_groups).astype(np.float64)
    own = share[stratum[internal["src"].to_numpy()]]
    observed = count_class(internal["count"])
    has = links > 0
    for c in range(COUNT_CLASSES):
        made = np.bincount(cand, weights=(observed == c), minlength=n_groups)
        mean = np.bincount(cand, weights=own[:, c], minlength=n_groups)[has] / links[has]
        tail = np.zeros(n_groups)
        tail[has] = binom.logsf(made[has] - 1.0, links[has], np.clip(mean, 1e-300, 1.0)) / _LN10
        out = np.minimum(out, tail)
    out = np.minimum(out + np.log10(COUNT_CLASSES), 0.0)
    return np.where(np.asarray(sizes) >= 3, out, 0.0)


def sorted_share(pool: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Share of the sorted ``pool`` (amounts, start times) in ``[low, high]``, at least one
    value's (1 for an empty pool)."""
    if len(pool) == 0:
        return np.ones(len(np.atleast_1d(low)))
    inside = (np.searchsorted(pool, high, side="right")
              - np.searchsorted(pool, low, side="left")) / len(pool)
    return np.clip(inside, 1.0 / len(pool), 1.0)


def hop_log_chance(
    internal: pd.DataFrame,
    transfers: pd.DataFrame,
    pools: list[np.ndarray],
    hop_s: float,
    min_conserved: float,
    max_conserved: float,
    n_groups: int,
    cash_outs: pd.DataFrame | None = None,
    lives: Lives | None = None,
) -> np.ndarray:
    """Per group: the log10 chance (<= 0) of its conserved short hops of money.

    A *hop* is money passing through a member ``v``: a transfer ``a`` into ``v`` and a transfer
    ``b`` out of it, both internal to the group, with ``t_a <= t_b <= t_a + hop_s`` and
    ``x_b / x_a`` in ``[min_conserved, max_conserved]``. ``b`` follows ``a`` as closely as it
    does with the share of ``b``'s duration stratum starting from ``t_a`` to ``t_b`` (at least
    ``MIN_GAP_S`` on: :func:`start_share`), and comes as close to its amount with the share of
    ``b``'s class's amounts (``pools``, sorted, by :func:`count_class`) between ``x_b`` and
    ``x_a``. A member passing on a gathered sum (:func:`gathered_log_chance`) has that as
    one more choice, and so is a member cashing out what it received
    (:func:`cash_out_log_chance`: the money leaves the group through a card) and one passing
    on along a repeated route what one-off payers paid it (:func:`routed_log_chance`). Per
    member its least likely hop counts, times the number of (in, out) pairs it had to choose
    from, its gathered sum and its repeated routes (a union bound); members without a hop add
    nothing. Where more than one
    member made an internal transfer that is no hop and was followed within ``hop_s`` by its
    payer being paid a conserved amount (:func:`paid_after`), the group's hops count at most
    their order (:func:`order_log_chance`).

    Parameters
    ----------
    internal, transfers
        As in :func:`money_log_chance`.
    pools
        Sorted amounts of each count class.
    hop_s, min_conserved, max_conserved
        What makes a hop (:class:`graph.rings.config.RingConfig` ``flow_*``).
    n_groups
        Number of groups.
    cash_outs
        Optional card payments (``src``, ``ts``, ``amount``): :func:`cash_out_log_chance`.
    lives
        Optional :class:`Lives`: each hop is timed against the pairs starting while the
        accounts of its outgoing pair are alive.
    """
    out = np.zeros(n_groups)
    known = internal[(internal["ts"] >= 0) & (internal["amount"] > 0)]
    if known.empty:
        return out
    cashed, cash_choices = cash_out_log_chance(known, cash_outs, hop_s, min_conserved,
                                               max_conserved, lives)
    routed, route_choices = routed_log_chance(known, transfers, pools, hop_s, min_conserved,
                                              max_conserved, lives)
    # only the members both receiving and sending inside their group pass money on
    known = known[_passing_through(known)]
    # a member passing on a gathered sum: one more choice of its evidence
    summed = gathered_log_chance(known, transfers, pools[0], hop_s, min_conserved,
                                 max_conserved, lives)
    ins = known.rename(columns={"dst": "v", "ts": "t_a", "amount": "x_a"})[
        ["cand", "v", "t_a", "x_a"]]
    outs = known.assign(c_b=count_class(known["count"]), d_b=duration_strata(known),
                        b=np.arange(len(known))).rename(
        columns={"src": "v", "dst": "w", "ts": "t_b", "amount": "x_b"})[
        ["cand", "v", "w", "t_b", "x_b", "c_b", "d_b", "b"]]
    pairs = ins.merge(outs, on=["cand", "v"])
    choices = pairs.groupby(["cand", "v"]).size()
    ratio = pairs["x_b"] / pairs["x_a"]
    hop = ((pairs["t_b"] >= pairs["t_a"]) & (pairs["t_b"] <= pairs["t_a"] + hop_s)
           & (ratio >= min_conserved) & (ratio <= max_conserved))
    hops = pairs[hop.to_numpy()]
    chance = _follow_log_chance(hops, pools, transfers, _lived(lives, hops["v"], hops["w"]))
    choices = choices.add(pd.Series(1, index=summed.index), fill_value=0).add(
        cash_choices, fill_value=0).add(route_choices, fill_value=0)
    best = pd.concat([chance, summed, cashed, routed]).groupby(level=[0, 1]).min()
    if best.empty:
        return out
    value = np.minimum(best.to_numpy() + np.log10(choices.reindex(best.index).to_numpy()), 0.0)
    out = fisher_log10(value, best.index.get_level_values(0).to_numpy(np.int64), n_groups)
    # members passing money on, and members paid back after they paid (no relay), each once:
    # a loop's first payer starts each of its rounds. Only pairs whose first transfer stands
    # alone tell the order (a mule loop run round after round within hop_s does not)
    passed = outs["b"].isin(hops["b"]).to_numpy()
    early = (~passed & alone(known, hop_s)
             & paid_after(outs, transfers, hop_s, min_conserved, max_conserved))
    payers = outs[["cand", "v"]]
    return np.maximum(out, order_log_chance(
        np.bincount(payers[passed].drop_duplicates()["cand"], minlength=n_groups),
        np.bincount(payers[early].drop_duplicates()["cand"], minlength=n_groups)))


def routed_log_chance(known: pd.DataFrame, transfers: pd.DataFrame, pools: list[np.ndarray],
                      hop_s: float, min_conserved: float, max_conserved: float,
                      lives: Lives | None = None) -> tuple[pd.Series, pd.Series]:
    """Per (group, member) passing on along one repeated route what one-off payers paid it:
    the log10 chance of it, and the repeated pairs it had to choose from.

    The pair table keeps a repeated pair's count, first and last transfer and mean amount
    only, so a member paying another member the same route round after round (a mule
    forwarding each week's takings to its collector) has no hop to judge: its one
    transfer in at a time is no match for a mean of twelve. Read over the route's span
    instead: a member ``v`` with an internal pair ``b`` repeated ``n_b`` times (mean ``x_b``,
    first transfer at ``t_b``, last at ``l_b``; its transfers taken as spread evenly between
    them) passes on what one-off pairs (``transfers`` made once, from anyone) paid it when
    those paid in ``[t_b - hop_s, l_b]`` within ``hop_s`` before one of ``b``'s transfers (or
    :data:`ROUTE_SLACK` of ``hop_s`` after: the spacing is a guess) a sum ``R`` with
    ``n_b x_b / R`` in ``[min_conserved, max_conserved]``, one of them within ``hop_s``
    before ``t_b`` and one within ``hop_s`` before ``l_b``, and no price passed round (the
    payments in one amount to the cent and ``x_b`` that amount: a Secret Santa's 20.00 paid
    the same colleague two years running, hreview's R48; a mule passing on all of what
    victims paid it, in amounts that vary, still routes it, review R74). A courier paying its
    shop each
    Sunday the week's takings of customers who paid over the week passes on money that
    came days before (hreview's ``benchmarks.probes_flows`` ``couriers_cod``): most of it
    is not counted, and the rest is no match. Under the null it is a hop
    (:func:`_follow_log_chance`) from the last such payment before ``t_b`` to ``b``, whose
    mean comes as close to the route's share ``R / n_b`` as the repeated class's amounts
    (``pools[1]``) between the two: the null draws a pair's mean from its class whatever
    came in, and keeps its span (given ``t_b``, ``l_b`` is no further test).

    Money paid in by the group's own members on repeated pairs is no one-off payment: a
    captain paying a pitch each week what the team paid it, or a co-op's buyer its
    wholesaler, reads nothing here; a mule paid by a new victim each week does (review:
    ``benchmarks.mule_flows`` ``mule_bills``, each of 7 mules' route to a fixed collector
    repeated 12 times, had no hop).

    Parameters
    ----------
    known
        Internal transfer pairs with a known start and amount (:func:`money_log_chance`).
    transfers
        Every transfer pair (the one-off payments, the null's starts).
    pools
        Sorted amounts of each count class.
    hop_s, min_conserved, max_conserved
        What makes a hop (:class:`graph.rings.config.RingConfig` ``flow_*``).
    lives
        Optional :class:`Lives`: the route's first transfer is timed against the pairs
        starting while its two accounts are alive.

    Returns
    -------
    tuple of pandas.Series
        Both indexed by (``cand``, ``v``): the member's log10 chance (<= 0) of its likeliest
        route, for the members with one; the repeated internal pairs each member paying one
        had to choose from.
    """
    index = pd.MultiIndex.from_arrays([np.zeros(0, np.int64), np.zeros(0, np.int64)],
                                      names=["cand", "v"])
    empty = pd.Series(np.zeros(0), index=index)
    routes = known[known["count"].to_numpy() >= 2]
    if routes.empty:
        return empty, empty
    routes = pd.DataFrame({"cand": routes["cand"].to_numpy(np.int64),
                           "v": routes["src"].to_numpy(np.int64),
                           "w": routes["dst"].to_numpy(np.int64),
                           "t_b": routes["ts"].to_numpy(np.float64),
                           "last": routes["last"].to_numpy(np.float64),
                           "x_b": routes["amount"].to_numpy(np.float64),
                           "n_b": routes["count"].to_numpy(np.float64),
                           "d_b": duration_strata(routes), "route": np.arange(len(routes))})
    choices = routes.groupby(["cand", "v"]).size().astype(np.float64)
    once = transfers[(transfers["count"].to_numpy() == 1) & (transfers["ts"].to_numpy() >= 0)
                     & (transfers["amount"].to_numpy() > 0)
                     & transfers["dst"].isin(routes["v"].unique()).to_numpy()]
    if once.empty:
        return empty, choices
    # the one-off payments into each route's payer over its span, and the route's transfers
    # spread evenly from its first to its last (the pair table keeps no more): a payment
    # passed on came within hop_s before one of them (ROUTE_SLACK of hop_s after, the grid
    # being a guess), not days before (a courier's week of takings paid to its shop)
    paid = routes.merge(pd.DataFrame({"v": once["dst"].to_numpy(np.int64),
                                      "t_a": once["ts"].to_numpy(np.float64),
                                      "x_a": once["amount"].to_numpy(np.float64)}), on="v")
    paid = paid[(paid["t_a"] >= paid["t_b"] - hop_s) & (paid["t_a"] <= paid["last"])]
    t_a, t_b = paid["t_a"].to_numpy(), paid["t_b"].to_numpy()
    n_b, last = paid["n_b"].to_numpy(), paid["last"].to_numpy()
    step = (last - t_b) / np.maximum(n_b - 1.0, 1.0)
    slack = ROUTE_SLACK * hop_s
    turn = np.clip(np.ceil((t_a - slack - t_b) / np.maximum(step, 1.0)), 0.0, n_b - 1.0)
    ahead = t_b + turn * step - t_a
    paid = paid[(ahead >= -slack) & (ahead <= hop_s)]
    if paid.empty:
        return empty, choices
    t_a = paid["t_a"].to_numpy()
    sums = paid.assign(
        opens=np.where(t_a <= paid["t_b"].to_numpy(), t_a, -np.inf),
        closes=t_a >= paid["last"].to_numpy() - hop_s).groupby("route").agg(
        x_in=("x_a", "sum"), t_a=("opens", "max"), closes=("closes", "any"),
        x_low=("x_a", "min"), x_high=("x_a", "max"))
    found = routes.set_index("route").join(sums, how="inner")
    # one amount paid in and passed on, to the cent, is a price passed round (a Secret Santa's
    # 20.00 paid the same colleague two Decembers running); a mule passing on all of varying
    # takings is no price (review R74)
    share = found["x_in"] / found["n_b"]
    price = ((found["x_high"] - found["x_low"] <= CENT + 1e-9)
             & ((found["x_b"] - share).abs() <= CENT + 1e-9))
    found = found[np.isfinite(found["t_a"]) & found["closes"] & ~price
                  & _within(found["x_b"] / share, min_conserved, max_conserved)]
    if found.empty:
        return empty, choices
    hops = found.assign(x_a=found["x_in"] / found["n_b"], c_b=1)
    return _follow_log_chance(hops, pools, transfers, _lived(lives, hops["v"], hops["w"])
                              ).groupby(level=[0, 1]).min(), choices


def paid_after(outs: pd.DataFrame, transfers: pd.DataFrame, hop_s: float,
               min_conserved: float, max_conserved: float) -> np.ndarray:
    """Per row of ``outs`` (member ``v`` paying ``x_b`` to another member at ``t_b``): was ``v``
    paid the same amount, within a cent, by anyone (``transfers``, the log's pairs; a pair
    whose first transfer stands alone, :func:`alone`) after it paid, within ``hop_s``? Money it
    could not have passed on: a price every member pays on a date (a Secret Santa's 20.00). A
    relay's member fronting the next hop from its own balance is paid back what it passed on
    before its cut (review R49: a chain of mules two of whom paid on 6 h before they were paid,
    95-98 % of it, was no longer found), so a conserved amount is not enough."""
    known = transfers[(transfers["ts"] >= 0) & (transfers["amount"] > 0)
                      & transfers["dst"].isin(outs["v"].unique())]
    known = known[alone(known, hop_s)]
    ins = known.rename(columns={"dst": "v", "ts": "t_a", "amount": "x_a"})[["v", "t_a", "x_a"]]
    pairs = outs[["v", "t_b", "x_b"]].assign(row=np.arange(len(outs))).merge(ins, on="v")
    ratio = pairs["x_b"] / pairs["x_a"]
    after = ((pairs["t_a"] > pairs["t_b"]) & (pairs["t_a"] <= pairs["t_b"] + hop_s)
             & (ratio >= min_conserved) & (ratio <= max_conserved)
             & ((pairs["x_b"] - pairs["x_a"]).abs() <= CENT + 1e-9))
    return np.isin(np.arange(len(outs)), pairs.loc[after.to_numpy(), "row"].to_numpy())


def alone(pairs: pd.DataFrame, hop_s: float) -> np.ndarray:
    """Which transfer ``pairs`` (``count``, ``ts``, ``last``) have a first transfer standing
    alone: made once, or repeated more than ``hop_s`` apart on average (a yearly gift, not a
    mule loop's rounds, whose first transfers are any round's)."""
    count = pairs["count"].to_numpy(np.float64)
    span = pairs["last"].to_numpy(np.float64) - pairs["ts"].to_numpy(np.float64)
    return (count <= 1) | (span > hop_s * (count - 1))


def contributions(internal: pd.DataFrame, transfers: pd.DataFrame, hop_s: float,
                  min_conserved: float, max_conserved: float, min_fan: int = 3,
                  cash_outs: pd.DataFrame | None = None) -> np.ndarray:
    """Which of the groups' internal transfer pairs (rows of ``internal``: ``cand``, ``src``,
    ``dst``, ``count``, ``ts``, ``last``, ``amount``) are contributions to a collection: money
    from the payer's own pocket to a member collecting from the group, which its collector
    does not pass on in the group.

    A pair ``a -> b`` (its first transfer at ``t``) is one when

    * ``b`` collects: ``min_fan`` or more of the log's transfers (``a``'s included; each
      pair's first and, where it repeats, last) came into it within ``hop_s`` of ``t`` or of
      the pair's last transfer (a member may miss a collector's first turn);
    * ``a`` pays its own money: nobody (``transfers``, the log's pairs, first or last
      transfer) paid ``a`` at least ``min_conserved`` times the contribution in
      ``[t - hop_s, t]`` (money it could be passing on; ``t`` the pair's last transfer too,
      where it repeats);
    * ``b`` does not pass the collection on: what it paid members in ``[t, t + hop_s]`` is
      less than ``min_conserved`` times what the log's transfers brought it within ``hop_s``
      of ``t`` (for an everyday share, below, payments to a member paying no member do not
      count: the office's own restaurant the lunch is spent at);
    * the roles turn: ``b`` itself pays into another member's collection (at another time);
    * ``a`` has a life of its own: while the group's transfers went on (their span, ``hop_s``
      either side) it paid the group less than it paid elsewhere of its own money (its
      transfers to others or its card payments, ``cash_outs``, the larger, a pair's spread
      evenly over its span; less what the group paid it), or the contribution is an
      everyday share: no more than ``a``'s median payment outside the group while the
      group's transfers went on (hreview's R55: a lunch order's 8-18 beside a
      life in the log no larger than the lunches; mules move more than they spend), or the
      circle meets again: ``a`` paid ``b``'s collections :data:`CIRCLE_ROUNDS` times or more,
      more than ``hop_s`` apart on average, ``b`` collecting at the first and the last of
      them (a food co-op's buyer in turn, each member buying every ten weeks for 40: what
      tells its 40-140 shares from salaried mules' 200-900 is not their size, session 30,
      but that the circle keeps turning: a twelve-week kitty of 8 mules turns twice).

    An office's gift collection (hreview's R46: twelve times in two years one colleague
    collects 5-20 from the others within two days and buys the gift) is one occasion, its
    payers joining their collector as a star does: with the collector turning, the occasions'
    union is a dense block (70-87 transfer pairs among 12 colleagues, -53 to -65 orders under
    the configuration model of :func:`graph.rings.null_model.links_beyond_tree`) that says the
    group is a circle that meets again, not that money was layered through it. Laundering
    shapes are none: a scatter-gather's and a stack's middle accounts and a chain's relay what
    they are paid, a fan-in's or a bipartite flow's receivers never pay the group, a cycle's
    members are paid by one member each; mules collecting in turn what victims paid them pass
    it on (a hop) and have no life beside it.

    The evasion it opens: mules with lives in the log larger than what they move, paying in
    money the log does not show (cash deposits) to a collector turning with each occasion who
    spends it outside the group, lose the evidence of their transfers' density and money
    shape; their shared devices and IPs and the labels still judge them. So do such mules
    whatever their lives where the kitty turns :data:`CIRCLE_ROUNDS` times (review R66: a
    cash-funded kitty of 8 mules run 24 weeks or more, or of 4 mules run 12, is read as a
    co-op; ``benchmarks.probes_flows`` ``mule_kitty_smurf_shops_long`` was lost whole);
    money a victim paid them just before still makes each payment a hop.
    """
    keep = np.zeros(len(internal), dtype=bool)
    if internal.empty:
        return keep
    cand = internal["cand"].to_numpy(np.int64)
    src, dst = internal["src"].to_numpy(np.int64), internal["dst"].to_numpy(np.int64)
    ts = internal["ts"].to_numpy(np.float64)
    last = np.where(internal["count"].to_numpy() >= 2, internal["last"].to_numpy(np.float64), ts)
    width = int(max(src.max(), dst.max())) + 1
    # the receiver collects (whoever else pays in: a candidate may hold part of its office)
    # ... around the pair's first transfer or, failing that, its last
    first_fan = _arrivals_near(transfers, dst, ts, hop_s) >= min_fan
    last_fan = _arrivals_near(transfers, dst, last, hop_s) >= min_fan
    fan = first_fan | last_fan
    at = np.where(first_fan, ts, last)
    # the roles turn: the collector pays into another member's collection
    pays = np.isin(cand * width + dst, (cand * width + src)[fan])
    amount = internal["amount"].to_numpy(np.float64)
    # the payer's money to the group against its own money elsewhere while the group's
    # transfers went on (mules recruited for twelve weeks pay the rent of those weeks only)
    sent = amount * internal["count"].to_numpy(np.float64)
    begin = pd.Series(ts).groupby(cand).transform("min").to_numpy() - hop_s
    end = pd.Series(last).groupby(cand).transform("max").to_numpy() + hop_s
    payers = pd.DataFrame({"cand": cand, "a": src, "sent": sent, "begin": begin, "end": end}
                          )[pays & fan].groupby(["cand", "a"]).agg(
        to_group=("sent", "sum"), begin=("begin", "first"), end=("end", "first"))
    from_group = pd.Series(sent, index=pd.MultiIndex.from_arrays([cand, dst],
                                                                 names=["cand", "a"]))
    payers["own"] = np.maximum(_money_between(transfers, payers) - payers["to_group"],
                               _money_between(cash_outs, payers)) - from_group.groupby(
        level=[0, 1]).sum().reindex(payers.index, fill_value=0.0)
    # ... or the contribution is no more than the payer's everyday payment elsewhere (a lunch
    # order's share beside its shopping; mules move more than they spend)
    typical = _typical_payment(internal, transfers, cash_outs, payers, min_fan, hop_s)
    payer_of = pd.MultiIndex.from_arrays([cand, src])
    everyday = amount <= pd.Series(typical, index=payers.index).reindex(
        payer_of, fill_value=0.0).to_numpy()
    # ... or the circle meets again: the payer paid this collector's collections
    # CIRCLE_ROUNDS times or more, the first and the last each with the collector's others,
    # more than hop_s apart on average (a co-op's buyer in turn, a month and more apart)
    count = internal["count"].to_numpy(np.float64)
    again = ((count >= CIRCLE_ROUNDS) & first_fan & last_fan
             & (last - ts > hop_s * (count - 1.0)))
    lives = payer_of.isin(payers.index[payers["to_group"] < payers["own"]]) | everyday | again
    which = np.flatnonzero(pays & fan & (ts >= 0) & lives)
    if len(which) == 0:
        return keep
    asked = pd.DataFrame({"row": which, "cand": cand[which], "a": src[which], "b": dst[which],
                          "t": at[which]})
    # the collector passed on to members, within hop_s, most of what came in around it; for
    # everyday shares, a member paying no member keeps what it is paid (the office's own
    # restaurant, the lunch spent there; a mule group's own cash-out is paid more than that)
    moves = np.isin(cand * width + dst, cand * width + src)
    outs = pd.DataFrame({"cand": np.r_[cand, cand], "b": np.r_[src, src], "t_out": np.r_[ts, last],
                         "x": np.r_[amount, amount], "moves": np.r_[moves, moves]}
                        ).drop_duplicates()
    onward = asked.merge(outs, on=["cand", "b"])
    onward = onward[(onward["t_out"] >= onward["t"]) & (onward["t_out"] <= onward["t"] + hop_s)
                    & (onward["moves"] | ~everyday[onward["row"].to_numpy()])]
    ins = _moments_in(transfers, np.unique(dst[which]))
    came = asked.merge(ins.rename(columns={"a": "b"}), on="b")
    came = came[(came["t_in"] >= came["t"] - hop_s) & (came["t_in"] <= came["t"] + hop_s)]
    passed = onward.groupby("row")["x"].sum()
    relayed = passed.index[passed.to_numpy() >= min_conserved * came.groupby("row")[
        "x_in"].sum().reindex(passed.index, fill_value=0.0).to_numpy()].to_numpy()
    # anyone paid the payer enough to pass on, before its first or last transfer
    both = pd.concat([asked.assign(t=ts[which]), asked.assign(t=last[which])]).drop_duplicates()
    hops = both.assign(x=amount[both["row"]]).merge(_moments_in(transfers, np.unique(src[which])),
                                                    on="a")
    hopped = hops.loc[(hops["t_in"] <= hops["t"]) & (hops["t_in"] >= hops["t"] - hop_s)
                      & (hops["x_in"] >= min_conserved * hops["x"]), "row"]
    keep[which] = True
    keep[np.concatenate([relayed, hopped.to_numpy()]).astype(np.int64)] = False
    return keep


def _typical_payment(internal: pd.DataFrame, transfers: pd.DataFrame,
                     cash_outs: pd.DataFrame | None, payers: pd.DataFrame, least: int,
                     hop_s: float) -> np.ndarray:
    """Per row of ``payers`` (indexed by ``cand``, ``a``; ``begin``, ``end``): ``a``'s median
    payment outside the group from ``begin`` to ``end`` (its pairs' mean amounts, each
    weighted by its payments: ``transfers``' pairs to non-members of ``cand``, per
    ``internal``, and its card payment pairs, ``cash_outs``, either running then, but for
    those starting within ``2 * hop_s`` after ``least`` or more transfers came in: a
    collector spending the collection); 0 where it made fewer than ``least`` payments (one
    rent paid in a week's collection is no life)."""
    asked = payers[["begin", "end"]].reset_index()
    pairs = [transfers[["src", "dst", "count", "ts", "last", "amount"]]]
    if cash_outs is not None and not cash_outs.empty:
        pairs.append(cash_outs[["src", "count", "ts", "last", "amount"]].assign(dst=-1))
    mine = asked.merge(pd.concat(pairs).rename(columns={"src": "a"}), on="a")
    mine = mine[(mine["ts"] <= mine["end"]) & (np.maximum(mine["last"], mine["ts"])
                                               >= mine["begin"])]
    members = pd.concat([internal[["cand", "src"]].rename(columns={"src": "dst"}),
                         internal[["cand", "dst"]]]).drop_duplicates().assign(member=True)
    mine = mine.merge(members, on=["cand", "dst"], how="left")
    spent = _arrivals_near(transfers, mine["a"].to_numpy(np.int64),
                           mine["ts"].to_numpy(np.float64) - hop_s, hop_s) >= least
    mine = mine[~spent]
    # the median payment: pairs weighted by their payments
    mine = mine[mine["member"].isna()].sort_values(["cand", "a", "amount"])
    by = mine.groupby(["cand", "a"], sort=False)["count"]
    half = ((by.cumsum() >= by.transform("sum") / 2) & (by.transform("sum") >= least)).to_numpy()
    median = mine[half].groupby(["cand", "a"])["amount"].first()
    return median.reindex(payers.index, fill_value=0.0).to_numpy(np.float64)


def _money_between(pairs: pd.DataFrame | None, payers: pd.DataFrame) -> np.ndarray:
    """Per row of ``payers`` (indexed by ``cand``, ``a``; ``begin``, ``end``): what ``a`` paid
    in ``pairs`` (``src``, ``count``, ``ts``, ``last``, ``amount``: transfer or card payment
    pairs) from ``begin`` to ``end``, a pair's transfers spread evenly from its first to its
    last."""
    if pairs is None or pairs.empty or payers.empty:
        return np.zeros(len(payers))
    rows = payers[["begin", "end"]].reset_index().assign(at=np.arange(len(payers)))
    mine = rows.merge(pairs[["src", "count", "ts", "last", "amount"]].rename(
        columns={"src": "a"}), on="a")
    first, final = mine["ts"].to_numpy(np.float64), mine["last"].to_numpy(np.float64)
    low, high = mine["begin"].to_numpy(), mine["end"].to_numpy()
    inside = np.where(final > first, np.clip(
        (np.minimum(final, high) - np.maximum(first, low)) / np.maximum(final - first, 1.0),
        0.0, 1.0), ((first >= low) & (first <= high)).astype(np.float64))
    money = mine["amount"].to_numpy(np.float64) * mine["count"].to_numpy(np.float64) * inside
    return np.bincount(mine["at"].to_numpy(np.int64), weights=money, minlength=len(payers))


def _moments_in(transfers: pd.DataFrame, accounts: np.ndarray) -> pd.DataFrame:
    """The log's transfers into ``accounts`` (``transfers``' pairs): ``a`` the payee, ``t_in``
    each pair's first and, where repeated, last transfer, ``x_in`` its mean amount."""
    paid = transfers[transfers["dst"].isin(accounts)]
    again = paid["count"].to_numpy() >= 2
    return pd.DataFrame({"a": np.r_[paid["dst"].to_numpy(), paid["dst"].to_numpy()[again]],
                         "t_in": np.r_[paid["ts"].to_numpy(np.float64),
                                       paid["last"].to_numpy(np.float64)[again]],
                         "x_in": np.r_[paid["amount"].to_numpy(np.float64),
                                       paid["amount"].to_numpy(np.float64)[again]]})


def _arrivals_near(transfers: pd.DataFrame, who: np.ndarray, at: np.ndarray, hop_s: float
                   ) -> np.ndarray:
    """Per (account ``who``, moment ``at``): the log's transfers into it (``transfers``' pairs,
    first and, where repeated, last transfer) within ``hop_s`` of ``at``."""
    into = transfers[transfers["dst"].isin(np.unique(who)) & (transfers["ts"] >= 0)]
    again = into["count"].to_numpy() >= 2
    dst = into["dst"].to_numpy(np.int64)
    moment = np.r_[into["ts"].to_numpy(np.float64), into["last"].to_numpy(np.float64)[again]]
    return near_counts(np.r_[dst, dst[again]], moment, who, at, hop_s)


def order_log_chance(forward: np.ndarray, early: np.ndarray) -> np.ndarray:
    """Per group: the log10 chance that at least ``forward`` of its members paying on a
    conserved amount within ``hop_s`` of being paid did so after it, when all but one of its
    ``early`` members (paid that amount after they paid) could have been too, each before or
    after at even odds; ``-inf`` (no bound) for a group with at most one early member: a relay
    loop's first payer is paid last, round after round (a member may be counted in both).

    Members told to pay one another on one date (a Secret Santa of 20.00, each paying the next
    round a loop within two days; hreview's R48) pay before or after they are paid by chance, so
    about half of them hop, each as unlikely by the log's starts as a mule's relay: 20 of 20
    offices were reported on their hops alone (money shape -22 to -30 orders, seed 0). A group
    where more than one member paid before being paid does not relay its money; its hops then
    say no more than their order."""
    forward, early = np.asarray(forward, np.int64), np.asarray(early, np.int64)
    tail = binom.logsf(forward - 1, forward + early - 1, 0.5) / _LN10
    return np.where(early > 1, np.minimum(tail, 0.0), -np.inf)


def chain_log_chance(internal: pd.DataFrame, singles: np.ndarray, min_conserved: float,
                     max_conserved: float, n_groups: int) -> np.ndarray:
    """Per group: the log10 chance (<= 0) of its longest chain of conserved amounts, whatever
    their timing (review R17, session 24: mules alive one week passing the money round at
    random times within it have no hops, their timing explained by their lives).

    A *relay* is a member with exactly one one-off transfer in from a member and one out to
    another member (``internal``: ``cand``, ``src``, ``dst``, ``count``, ``amount``); it is
    *conserved* when ``x_out / x_in`` lies in ``[min_conserved, max_conserved]`` and the two
    differ by more than a cent (equal amounts round a loop are a price: a gift exchange's
    agreed 50.00, judged as fans are). Conserved relays where one's outgoing transfer is the
    next one's incoming one are a chain (a loop's chain goes round once). A chain of relays
    ``1..L`` has chance the product of the shares of the log's one-off amounts (``singles``,
    sorted) between each relay's two amounts, times the group's relays (the chain's start):
    a laundering loop passes on the last amount minus a cut hop after hop; a trip's
    settle-ups net debts, their amounts unrelated from one to the next. Groups with none: 0.
    """
    out = np.zeros(n_groups)
    known = internal[(internal["amount"] > 0) & (internal["count"] == 1)]
    if known.empty:
        return out
    cand = known["cand"].to_numpy(np.int64)
    src, dst = known["src"].to_numpy(np.int64), known["dst"].to_numpy(np.int64)
    amount = known["amount"].to_numpy(np.float64)
    width = int(max(src.max(), dst.max())) + 1
    into, out_of = cand * width + dst, cand * width + src
    # relays: exactly one transfer in and one out inside the group
    ins, n_in = np.unique(into, return_counts=True)
    outs, n_out = np.unique(out_of, return_counts=True)
    relay = np.intersect1d(ins[n_in == 1], outs[n_out == 1])
    if len(relay) == 0:
        return out
    # per relay: its incoming and outgoing transfer (rows of known)
    a = np.flatnonzero(np.isin(into, relay))
    a = a[np.argsort(into[a])]
    b = np.flatnonzero(np.isin(out_of, relay))
    b = b[np.argsort(out_of[b])]
    x_a, x_b = amount[a], amount[b]
    ratio = x_b / x_a
    conserved = ((ratio >= min_conserved) & (ratio <= max_conserved)
                 & (np.abs(x_b - x_a) > 0.01) & (src[a] != dst[b]))
    low, high = np.minimum(x_a, x_b), np.maximum(x_a, x_b)
    log_share = np.where(conserved, np.log10(sorted_share(singles, low, high)), 0.0)
    # the next relay along the chain: the one whose incoming transfer is this one's outgoing
    position = np.searchsorted(relay, into[b])
    position = np.minimum(position, len(relay) - 1)
    follows = (relay[position] == into[b]) & conserved
    following = np.where(follows, position, -1)
    group = relay // width
    per_group = np.bincount(group, minlength=n_groups)
    # each relay's chain from it: its shares summed along up to the group's relays
    total = np.where(conserved, log_share, 0.0)
    at = following.copy()
    alive = conserved & (at >= 0)
    limit = per_group[group] - 1
    for steps in range(int(per_group.max()) - 1):
        # a loop's chain goes round once: at most the group's relays
        alive &= steps < limit
        if not alive.any():
            break
        step = np.where(alive, at, 0)
        alive &= conserved[step]
        total = total + np.where(alive, log_share[step], 0.0)
        at = np.where(alive, following[step], -1)
        alive &= at >= 0
    best = np.zeros(n_groups)
    np.minimum.at(best, group, total)
    return np.minimum(best + np.log10(np.maximum(per_group, 1)), 0.0)


def cash_out_log_chance(known: pd.DataFrame, cash_outs: pd.DataFrame | None, hop_s: float,
                        min_conserved: float, max_conserved: float, lives: Lives | None = None
                        ) -> tuple[pd.Series, pd.Series]:
    """Per (group, member) cashing out what it received: the log10 chance of it, and the
    number of (transfer in, card payment) pairs and sums it had to choose from.

    A member receiving an internal transfer ``a`` (``x_a`` at ``t_a``) and paying with a card
    ``b`` (``x_b`` at ``t_b``, a card payment pair's first payment and mean amount) with
    ``t_a <= t_b <= t_a + hop_s`` and ``x_b / x_a`` in ``[min_conserved, max_conserved]`` moves
    the money out of the group: the end of a chain, the mules a gather-scatter's hub paid
    (the AML typologies' cash-out). So does one paying with a card the sum of two or more
    internal transfers received in ``[t_b - hop_s, t_b]`` (a bipartite flow's receivers:
    ``x_a`` their sum, ``t_a`` the last of them), one more choice per such card payment.
    The null treats card payment pairs as it treats transfer pairs, apart: ``b`` follows
    ``a`` as closely as the share of the card payment pairs of ``b``'s duration stratum
    (:func:`duration_strata`) starting from ``t_a`` to ``t_b`` (at least ``MIN_GAP_S`` on),
    and comes as close to ``x_a`` as the share of the amounts of ``b``'s count class
    (:func:`count_class`) between ``x_b`` and ``x_a``, of those starting while the member is
    alive where its ``lives`` are given. A salary spent on purchases over the
    month, or a card used since long before the money came, is no cash-out.

    Parameters
    ----------
    known
        Internal transfer pairs with a known start and amount (:func:`money_log_chance`).
    cash_outs
        Card payment pairs (``src``, ``count``, ``ts``, ``last``, ``amount``;
        :func:`graph.rings.typologies.cash_out_table`), or None.
    hop_s, min_conserved, max_conserved
        What makes a hop (:class:`graph.rings.config.RingConfig` ``flow_*``).
    lives
        Optional :class:`Lives` of the accounts.

    Returns
    -------
    tuple of pandas.Series
        Both indexed by (``cand``, ``v``): the member's log10 chance (<= 0) of its likeliest
        cash-out, for the members with one; the (transfer in, card payment) pairs and sums
        each member receiving with a card payment had to choose from.
    """
    index = pd.MultiIndex.from_arrays([np.zeros(0, np.int64), np.zeros(0, np.int64)],
                                      names=["cand", "v"])
    empty = pd.Series(np.zeros(0), index=index)
    if cash_outs is None or cash_outs.empty:
        return empty, empty
    every = cash_outs[(cash_outs["ts"] >= 0) & (cash_outs["amount"] > 0)]
    repeated = count_class(every["count"])
    amounts = every["amount"].to_numpy(np.float64)
    pools = [np.sort(amounts[repeated == c]) for c in range(COUNT_CLASSES)]
    ins = known[["cand", "dst", "ts", "amount"]].rename(
        columns={"dst": "v", "ts": "t_a", "amount": "x_a"})
    cards = every[every["src"].isin(ins["v"])]
    cards = pd.DataFrame({"v": cards["src"], "b": np.arange(len(cards)), "t_b": cards["ts"],
                          "x_b": cards["amount"], "c_b": count_class(cards["count"]),
                          "d_b": duration_strata(cards)})
    pairs = ins.merge(cards, on="v")
    if pairs.empty:
        return empty, empty
    choices = pairs.groupby(["cand", "v"]).size().astype(np.float64)
    t_a, t_b = pairs["t_a"].to_numpy(np.float64), pairs["t_b"].to_numpy(np.float64)
    # one transfer in cashed out ...
    single = pairs[(t_b >= t_a) & (t_b <= t_a + hop_s)
                   & _within(pairs["x_b"] / pairs["x_a"], min_conserved, max_conserved)]
    # ... or the sum of two or more that came in over the hop_s before the card payment
    window = pairs[(t_a <= t_b) & (t_a >= t_b - hop_s)]
    summed = window.groupby(["cand", "v", "b"], sort=False).agg(
        x_a=("x_a", "sum"), n_in=("x_a", "size"), t_a=("t_a", "max"), x_b=("x_b", "first"),
        t_b=("t_b", "first"), c_b=("c_b", "first"), d_b=("d_b", "first")).reset_index()
    summed = summed[summed["n_in"] >= 2]
    # each card payment with two or more transfers before it is one more choice
    choices = choices.add(summed.groupby(["cand", "v"]).size(), fill_value=0)
    summed = summed[_within(summed["x_b"] / summed["x_a"], min_conserved, max_conserved)]
    hops = pd.concat([single, summed], ignore_index=True)[
        ["cand", "v", "x_a", "t_a", "x_b", "t_b", "c_b", "d_b"]]
    if hops.empty:
        return empty, choices
    return _follow_log_chance(hops, pools, every, _lived(lives, hops["v"])).groupby(
        level=[0, 1]).min(), choices


def _follow_log_chance(pairs: pd.DataFrame, pools: list[np.ndarray], population: pd.DataFrame,
                       lived: tuple[np.ndarray, np.ndarray] | None = None) -> pd.Series:
    """Per row of ``pairs`` (money ``x_a`` in at ``t_a``, ``x_b`` out at ``t_b``, out pair's
    count class ``c_b`` and duration stratum ``d_b``), indexed by (``cand``, ``v``): the log10
    chance that ``b`` follows ``a`` this soon (the share of ``population``'s pairs of ``b``'s
    stratum starting from ``t_a`` to ``t_b``, at least ``MIN_GAP_S`` on: :func:`start_share`)
    and comes this close to its amount (the share of ``pools[c_b]``, sorted amounts, between
    ``x_b`` and ``x_a``)."""
    x_a, x_b = pairs["x_a"].to_numpy(np.float64), pairs["x_b"].to_numpy(np.float64)
    t_a, t_b = pairs["t_a"].to_numpy(np.float64), pairs["t_b"].to_numpy(np.float64)
    low, high = np.minimum(x_a, x_b), np.maximum(x_a, x_b)
    share = np.ones(len(pairs))
    for c, pool in enumerate(pools):
        mine = pairs["c_b"].to_numpy() == c
        share[mine] = sorted_share(pool, low[mine], high[mine])
    soon = start_share(population, pairs["d_b"].to_numpy(), t_a,
                       np.maximum(t_b, t_a + MIN_GAP_S), lived)
    return pd.Series(np.log10(soon) + np.log10(share),
                     index=pd.MultiIndex.from_frame(pairs[["cand", "v"]]))


def _within(ratio: pd.Series, low: float, high: float) -> np.ndarray:
    """Which ``ratio`` values lie in ``[low, high]``."""
    ratio = np.asarray(ratio, np.float64)
    return (ratio >= low) & (ratio <= high)

def _passing_through(pairs: pd.DataFrame) -> np.ndarray:
    """Which of a group's internal ``pairs`` (``cand``, ``src``, ``dst``) come into a member
    that pays another member, or leave one that another member pays."""
    if pairs.empty:
        return np.zeros(0, dtype=bool)
    src, dst = pairs["src"].to_numpy(np.int64), pairs["dst"].to_numpy(np.int64)
    width = int(max(src.max(), dst.max())) + 1
    cand = pairs["cand"].to_numpy(np.int64) * width
    sends, gets = pd.Series(cand + src), pd.Series(cand + dst)
    return (sends.isin(gets) | gets.isin(sends)).to_numpy()


def gathered_log_chance(known: pd.DataFrame, transfers: pd.DataFrame, singles: np.ndarray,
                        hop_s: float, min_conserved: float, max_conserved: float,
                        lives: Lives | None = None) -> pd.Series:
    """Per (group, member) passing on a gathered sum: the log10 chance of it.

    Among a group's single transfers (``count == 1``: each pair's time and amount are its
    transfer's), a member's first outgoing transfer at ``t`` opens a window: what the member
    sent in ``[t, t + hop_s]`` against what it received in ``[t - hop_s, t]``. Three or more
    transfers (not one in and one out: that is a hop) whose sums balance within
    ``[min_conserved, max_conserved]`` pass the gathered sum on (a gather-scatter's hub: no
    single transfer out matches a single one in). Under the null each amount is drawn from the
    single transfers' amounts (``singles``, sorted) and each start from its stratum's, apart:
    given the others, the last transfer out comes as close to balancing the sum with the share
    of ``singles`` between its amount and the one that balances it exactly, and the first
    transfer out follows the last one in as closely as the share of its stratum's pairs
    starting between them (at least ``MIN_GAP_S``: :func:`start_share`). A marketplace paying
    its sellers once a week what its buyers paid over the week is no gathered sum: two days'
    takings do not balance a week's payout.

    Parameters
    ----------
    known
        Internal transfer pairs with a known start and amount (:func:`money_log_chance`).
    transfers
        Every transfer pair: the null's start strata.
    singles
        Sorted amounts of the pairs transacting once.
    hop_s, min_conserved, max_conserved
        What makes a hop (:class:`graph.rings.config.RingConfig` ``flow_*``).
    lives
        Optional :class:`Lives`: the first transfer out is timed against the starts while the
        member is alive.

    Returns
    -------
    pandas.Series
        Indexed by (``cand``, ``v``): the member's log10 chance (<= 0).
    """
    empty = pd.Series(np.zeros(0), index=pd.MultiIndex.from_arrays(
        [np.zeros(0, np.int64), np.zeros(0, np.int64)], names=["cand", "v"]))
    # only members both sending and receiving single transfers in their group
    once = known[known["count"].to_numpy() == 1]
    single = once[_passing_through(once)]
    if single.empty:
        return empty
    outs = single[["cand", "src", "ts", "amount"]].rename(columns={"src": "v"})
    opens = outs.groupby(["cand", "v"], sort=False)["ts"].min().rename("t0").reset_index()
    outs = outs.merge(opens, on=["cand", "v"])
    outs = outs[outs["ts"] <= outs["t0"] + hop_s]
    ins = single[["cand", "dst", "ts", "amount"]].rename(columns={"dst": "v"}).merge(
        opens, on=["cand", "v"])
    ins = ins[(ins["ts"] <= ins["t0"]) & (ins["ts"] >= ins["t0"] - hop_s)]
    if ins.empty:
        return empty
    last_out = outs.sort_values("ts").groupby(["cand", "v"], sort=False)
    sent = last_out.agg(s_out=("amount", "sum"), n_out=("amount", "size"),
                        x_close=("amount", "last"), t0=("t0", "first"))
    got = ins.groupby(["cand", "v"], sort=False).agg(s_in=("amount", "sum"),
                                                    n_in=("amount", "size"),
                                                    t_in=("ts", "max"))
    both = sent.join(got, how="inner")
    ratio = both["s_out"] / both["s_in"]
    both = both[(both["n_in"] + both["n_out"] >= 3) & (ratio >= min_conserved)
                & (ratio <= max_conserved)]
    if both.empty:
        return empty
    x_close = both["x_close"].to_numpy(np.float64)
    balanced = x_close + (both["s_in"] - both["s_out"]).to_numpy(np.float64)
    share = sorted_share(singles, np.minimum(x_close, balanced), np.maximum(x_close, balanced))
    t_in = both["t_in"].to_numpy(np.float64)
    soon = start_share(transfers, np.zeros(len(both), np.int64), t_in,
                       np.maximum(both["t0"].to_numpy(np.float64), t_in + MIN_GAP_S),
                       _lived(lives, both.index.get_level_values(1)))
    return pd.Series(np.log10(soon) + np.log10(share), index=both.index)


#: How far after a repeated route's transfer (spread evenly from its first to its last: the
#: pair table keeps no more), as a share of ``hop_s``, a payment in may come and still be passed
#: on by it (:func:`routed_log_chance`): the grid is a guess, a mule's week is not that regular.
ROUTE_SLACK = 0.25
#: Fewest times a payer paid one collector's collections for the circle to meet again
#: (:func:`contributions`): the third turn of a collector in turn; a twelve-week kitty of 8
#: mules turns twice at most.
CIRCLE_ROUNDS = 3
#: Points of a pool's amount distribution at which :func:`spread_log_chance` places a fan's
#: smallest amount (its quantiles' midpoints).
SPREAD_POINTS = 256
#: A fan's amounts whose chance read at their own place is under this (log10) are read again
#: by :func:`spread_log_chance`; above it they are no evidence worth the search (most fans of
#: ordinary transfers, whose amounts spread widely).
SPREAD_CHECKED = -1.0
#: Amounts equal to this much are one price (:func:`price_log_share`): the cent.
CENT = 0.01


def fan_log_chance(internal: pd.DataFrame, transfers: pd.DataFrame, pools: list[np.ndarray],
                   n_groups: int, min_fan: int = 3) -> np.ndarray:
    """Per group: the log10 chance (<= 0) of its members' fans: nearly equal amounts, and
    transfers to (or from) distinct counterparties on a schedule.

    A member receiving ``k >= min_fan`` internal transfers of one count class (a fan-in; a
    fan-out likewise; of both, judged among every amount, where its pairs in the group mix
    them: :func:`_fan_class`) whose amounts span the share ``q`` of that class's amounts
    (``pools``)
    has them by chance with probability at most ``k q^(k - 1)``, or, where that is higher, as
    likely as ``k`` amounts of the class anywhere within the same ratio of each other
    (:func:`spread_log_chance`: a payroll's pay in the sparse tail of the log's amounts is no
    fan of equal amounts), or, where that is higher still and ``t >= 2`` of its amounts lie
    within a cent of each other, as likely as a price: the share of the log's other hubs paid
    so by ``t`` of their counterparties (:func:`price_log_share`), times the chance of its ``d``
    prices as a fan's (``d q^(d - 1)``; 1 for one price); whose pairs start on a
    schedule, as :func:`schedule_log_chance` says (the null draws amounts and starts
    independently: two p-values). Which transfers make the fan is not counted here (the
    selection count pays for its links), nor the window they start in (the window's term).
    A group's fans' p-values are combined by :func:`omnibus_log10` (a product of p-values is
    none: two of 0.1 each come together with chance 0.056, not 0.01; and a fan on a schedule
    whose amounts are unremarkable keeps its schedule's p-value); a transfer is in its
    payer's fan-out and its payee's fan-in, so that none counts twice a group's fans-in or its
    fans-out count, whichever are less likely together.

    Parameters
    ----------
    internal, transfers
        As in :func:`money_log_chance`.
    pools
        Sorted amounts of each count class.
    n_groups
        Number of groups.
    min_fan
        Fewest transfers that make a fan.
    """
    out = np.zeros(n_groups)
    known = internal[(internal["ts"] >= 0) & (internal["amount"] > 0)]
    if known.empty:
        return out
    cand = known["cand"].to_numpy(np.int64)
    strata = duration_strata(known)
    starts = known["ts"].to_numpy(np.float64)
    amount = known["amount"].to_numpy(np.float64)
    pools = [*pools, np.empty(0)]
    for hub in ("dst", "src"):
        at = known[hub].to_numpy(np.int64)
        cls = _fan_class(cand * (int(at.max()) + 1) + at, count_class(known["count"]))
        if (cls == COUNT_CLASSES).any() and not len(pools[-1]):
            pools[-1] = np.sort(np.concatenate(pools[:-1]))
        # one fan per (group, hub, class)
        _, fan_of = np.unique((cand * (int(at.max()) + 1) + at) * (COUNT_CLASSES + 1) + cls,
                              return_inverse=True)
        fan_of = fan_of.ravel()
        k = np.bincount(fan_of).astype(np.float64)
        x0 = np.full(len(k), np.inf)
        x1 = np.full(len(k), -np.inf)
        np.minimum.at(x0, fan_of, amount)
        np.maximum.at(x1, fan_of, amount)
        fan_cand = np.zeros(len(k), np.int64)
        fan_cand[fan_of] = cand
        fan_class = np.zeros(len(k), np.int64)
        fan_class[fan_of] = cls
        is_fan = k >= min_fan
        if not is_fan.any():
            continue
        share = np.ones(len(k))
        for c, pool in enumerate(pools):
            mine = is_fan & (fan_class == c)
            share[mine] = sorted_share(pool, x0[mine], x1[mine])
        amounts = np.minimum(np.log10(k) + (k - 1) * np.log10(share), 0.0)
        # judged by how near each other its amounts are, not by where they fell
        for c, pool in enumerate(pools):
            mine = is_fan & (fan_class == c) & (amounts < SPREAD_CHECKED)
            amounts[mine] = np.maximum(amounts[mine], spread_log_chance(
                pool, x1[mine] / x0[mine], k[mine]))
        # or as a price: amounts within a cent of each other, as often as the log's other
        # hubs are paid so
        cents = _cents(amount)
        tie = _tie_sizes(fan_of, cents, len(k))
        priced = np.flatnonzero(is_fan & (tie >= 2))
        if len(priced):
            distinct = _price_count(fan_of, cents, priced)
            rest = np.where(distinct > 1.0, np.log10(distinct) + (distinct - 1.0) * np.log10(
                share[priced]), 0.0)
            owner = np.zeros(len(k), np.int64)
            owner[fan_of] = at
            amounts[priced] = np.maximum(amounts[priced], price_log_share(
                transfers, hub, min_fan, tie[priced], owner[priced]) + np.minimum(rest, 0.0))
        mine = is_fan[fan_of]
        timed = schedule_log_chance((np.cumsum(is_fan) - 1)[fan_of[mine]], at[mine],
                                    starts[mine], strata[mine], transfers,
                                    int(is_fan.sum()), hub)
        judged = ~np.isnan(timed)
        chance = np.r_[amounts[is_fan], timed[judged]]
        out = np.minimum(out, omnibus_log10(
            chance, np.r_[fan_cand[is_fan], fan_cand[is_fan][judged]], n_groups))
    return out


def _cents(amount: np.ndarray) -> np.ndarray:
    """Amounts in whole :data:`CENT` s (what tells two amounts apart)."""
    return np.round(np.asarray(amount, np.float64) / CENT).astype(np.int64)


def _tie_sizes(owner: np.ndarray, cents: np.ndarray, n: int) -> np.ndarray:
    """Per owner ``0..n-1``: the most of its amounts (whole cents) within one cent of each
    other (a sum split evenly: 533.34, 533.33, 533.33)."""
    out = np.zeros(n, np.int64)
    if len(owner) == 0:
        return out
    counts = pd.DataFrame({"owner": np.asarray(owner, np.int64), "cents": cents}).value_counts()
    owners = counts.index.get_level_values(0).to_numpy(np.int64)
    values = counts.index.get_level_values(1).to_numpy(np.int64)
    above = counts.reindex(pd.MultiIndex.from_arrays([owners, values + 1])).fillna(0).to_numpy()
    np.maximum.at(out, owners, counts.to_numpy() + above.astype(np.int64))
    return out


def _price_count(owner: np.ndarray, cents: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Per owner of ``which``: the prices its amounts (whole cents) make, from the smallest up,
    each holding the amounts within one cent of its own smallest."""
    out = np.zeros(len(which))
    for i, w in enumerate(which.tolist()):
        values = np.unique(cents[owner == w])
        prices, start = 0, None
        for value in values.tolist():
            if start is None or value > start + 1:
                prices, start = prices + 1, value
        out[i] = prices
    return out


def price_log_share(transfers: pd.DataFrame, side: str, min_fan: int, tie: np.ndarray,
                    hub: np.ndarray) -> np.ndarray:
    """Per fan of ``hub`` (account row) whose amounts hold ``tie`` (>= 2) within one cent of
    each other: the log10 share of the log's other hubs that bill a price so; ``-inf`` where
    none does. Of the accounts other than ``hub`` with ``max(tie, min_fan)`` or more
    counterparties at their ``side`` of the transfer pairs (``dst``: paid by them, ``src``:
    paying them), those ``tie`` or more of whom paid (were paid) amounts within one cent
    (:data:`CENT`; each pair's mean amount) of each other.

    Rent, a fixed fee, a subscription, a bill split evenly: a landlord paid 500.00 by each of
    five flatmates is a fan of equal amounts, which drawn apart from the log's amounts are one
    in ten million (flatmates of 5 paying 500.00, 50 households among 3,000 accounts: 47 + 3 of
    50 reported as fans-in without labels, session 20), and what billing looks like where
    other payees bill so. A fan whose amounts tie is a price with this share, and its distinct
    prices are judged as a fan's (:func:`fan_log_chance`). Planted and AMLSim fans pay amounts
    that differ, mules splitting a sum or keeping under a limit (no AMLSim alert's payee is
    paid one amount twice); a fan tied where no other hub is paid so gets no such share."""
    tie = np.asarray(tie, np.int64)
    out = np.full(len(tie), -np.inf)
    amount = transfers["amount"].to_numpy(np.float64)
    known = amount > 0
    pairs = pd.DataFrame({"hub": transfers[side].to_numpy(np.int64)[known],
                          "other": transfers["dst" if side == "src" else "src"].to_numpy(
                              np.int64)[known],
                          "cents": _cents(amount[known])}).drop_duplicates(["hub", "other"])
    if pairs.empty:
        return out
    at = pairs["hub"].to_numpy()
    n = int(max(at.max(), np.max(hub, initial=0))) + 1
    degree = np.bincount(at, minlength=n)
    block = _tie_sizes(at, pairs["cents"].to_numpy(), n)
    for size in np.unique(tie).tolist():
        mine = tie == size
        hubs = degree >= max(size, min_fan)
        billers = hubs & (block >= size)
        others = hubs.sum() - hubs[hub[mine]]
        share = (billers.sum() - billers[hub[mine]]) / np.maximum(others, 1)
        out[mine] = np.where(share > 0, np.log10(np.maximum(share, 1e-300)), -np.inf)
    return out


def _fan_class(hub_key: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """Per transfer pair: the class its fan is judged in (:func:`fan_log_chance`): its count
    class, or :data:`COUNT_CLASSES` (every amount) where its hub's pairs in the group (same
    ``hub_key``) are of both classes.

    A hub paying the same mules in several bursts pays some of them in every burst and some
    in one: split by class, its fan of 11 nearly equal amounts was judged as a fan of 6 and a
    fan of 4 (flows seed 11, -8.0 orders: surprise 4.4 under the flow bar of 5)."""
    _, key = np.unique(hub_key, return_inverse=True)
    key = key.ravel()
    low = np.full(key.max() + 1, COUNT_CLASSES)
    high = np.full(key.max() + 1, -1)
    np.minimum.at(low, key, cls)
    np.maximum.at(high, key, cls)
    return np.where(low[key] == high[key], cls, COUNT_CLASSES)


def spread_log_chance(pool: np.ndarray, ratio: np.ndarray, k: np.ndarray,
                      chunk: int = 4096) -> np.ndarray:
    """Per fan: the log10 chance that ``k`` amounts drawn from the sorted ``pool`` lie within a
    ``ratio`` (largest over smallest) of each other, wherever in the pool they fall:
    ``log10(k E[q(x)^(k - 1)])``, ``x`` the smallest drawn from the pool (at its
    :data:`SPREAD_POINTS` quantiles) and ``q(x)`` the pool's share in ``[x, ratio x]``.

    The share at the fan's own amounts (``k q^(k - 1)``, :func:`fan_log_chance`) conditions on
    where they fell: salaries sit where the log's transfers are sparse, so a payroll run's
    ordinary spread of pay (a third either way) covered a sliver of the pool and read as a fan
    of nearly equal amounts (seed-3 flows world: honest payroll fans of 10-13 accounts had
    12-15 orders from it, and were reported without labels). A fan's amounts are judged by how
    near each other they are, not by where; :func:`fan_log_chance` keeps the higher of the two
    chances (the more cautious)."""
    out = np.zeros(len(ratio))
    if len(pool) == 0 or len(ratio) == 0:
        return out
    at = pool[np.minimum((np.arange(SPREAD_POINTS) + 0.5) / SPREAD_POINTS * len(pool),
                         len(pool) - 1).astype(np.int64)]
    low = np.searchsorted(pool, at, side="left")
    for start in range(0, len(ratio), chunk):
        r, m = ratio[start:start + chunk], k[start:start + chunk]
        high = np.searchsorted(pool, at[None, :] * r[:, None], side="right")
        q = np.clip((high - low[None, :]) / len(pool), 1.0 / len(pool), 1.0)
        terms = (m[:, None] - 1.0) * np.log10(q)
        top = terms.max(axis=1)
        mean = top + np.log10(np.mean(10.0 ** (terms - top[:, None]), axis=1))
        out[start:start + chunk] = np.minimum(np.log10(m) + mean, 0.0)
    return out


def schedule_log_chance(fan: np.ndarray, hub: np.ndarray, ts: np.ndarray, stratum: np.ndarray,
                        transfers: pd.DataFrame, n_fans: int, side: str = "dst") -> np.ndarray:
    """Per fan: the log10 chance (<= 0) that its pairs start on a schedule as regular as
    they do; NaN for a fan it cannot judge (see below).

    The null permutes each pair's start among the pairs of its duration stratum
    (:func:`duration_strata`), so a hub's pairs with distinct counterparties start
    independently: that one starts every 44 days, to a new counterparty each time, is not what
    independent starts do. A repeated pair's own schedule (a salary, the rent) is kept by the
    null: only the starts of distinct pairs can make one here. An account keeps a calendar
    too (it banks on Fridays, pays on the first of the month), so the null is a mixture: the
    starts are drawn either from the stratum's or from the hub's own calendar, and the likelier
    of the two counts (a mixture's chance is at most its larger part's). The calendar is the
    share of the hub's other pairs (those it pays on, for a fan-out; is paid on, for a fan-in)
    starting on the fan's grid stretched over the whole log, with the stratum's share on the
    grid as one pair's worth of prior: a hub whose other payments start every Friday explains
    a weekly fan-out, one with no other pairs is judged by the stratum.

    The fan's ``m`` pair starts, sorted, span ``S`` from the first to the last; with ``p`` the
    smallest gap between two of them (no two may start together: ``p > MIN_GAP_S``) the grid
    has ``J = round(S / p)`` steps of ``S / J`` from the first start, and ``d`` is the largest
    distance of a start from its nearest grid point (at least ``MIN_GAP_S``). Given the first
    and last start (the window's term charges those), under the stratum each of the ``m - 2``
    others lands within ``d`` of a grid point with the share of its stratum's starts there
    among those inside the window (its own included: :func:`start_share`), and they take
    distinct points of the ``J - 1`` inside it: ``(J - 1)! / (J - 1 - (m - 2))!`` ways; under
    the calendar each lands on the grid with the calendar's share. The step is read off the
    data, so the chance is multiplied by ``J (J + 1) / (m - 1)`` (a union bound over every
    step count ``J`` the ``m`` starts could have shown: a grid holding them all has ``J >= m -
    1`` steps, and ``(m - 1) / (J (J + 1))`` over those sums to one). Fans of fewer than three
    starts, with two starts together, or whose starts lie half a step or more off the grid:
    NaN.

    Parameters
    ----------
    fan, hub, ts, stratum
        Per transfer pair: its fan's index, the fan's hub (account row), its first transfer
        (epoch s) and its duration stratum.
    transfers
        Every transfer pair (the null's starts).
    n_fans
        Number of fans.
    side
        The hub's end of its fan's pairs: ``dst`` for a fan-in, ``src`` for a fan-out (its
        calendar is of the pairs it has on that end: when it receives, when it pays).
    """
    out = np.full(n_fans, np.nan)
    if len(fan) == 0:
        return out
    order = np.lexsort((ts, fan))
    fan, hub, ts, stratum = fan[order], hub[order], ts[order], stratum[order]
    m = np.bincount(fan, minlength=n_fans)
    first = np.full(n_fans, np.inf)
    last = np.full(n_fans, -np.inf)
    np.minimum.at(first, fan, ts)
    np.maximum.at(last, fan, ts)
    same = fan[1:] == fan[:-1]
    step = np.full(n_fans, np.inf)
    np.minimum.at(step, fan[1:][same], np.diff(ts)[same])
    span = np.where(m > 0, last - first, 0.0)
    regular = (m >= 3) & np.isfinite(step) & (step > MIN_GAP_S)
    steps = np.where(regular, np.round(span / np.where(regular, step, 1.0)), 0.0)
    regular &= steps >= m - 1
    grid = np.where(regular, span / np.maximum(steps, 1.0), 1.0)
    offset = ts - first[fan]
    slot = np.round(offset / grid[fan])
    worst = np.zeros(n_fans)
    np.maximum.at(worst, fan, np.abs(offset - slot * grid[fan]))
    worst = np.maximum(worst, MIN_GAP_S)
    regular &= worst < grid / 2.0
    inner = regular[fan] & (ts > first[fan]) & (ts < last[fan])
    if not inner.any():
        return out
    f, d = fan[inner], worst[fan[inner]]
    centre = first[f] + slot[inner] * grid[f]
    low, high = np.r_[centre - d, first[f]], np.r_[centre + d, last[f]]
    both = start_share(transfers, np.r_[stratum[inner], stratum[inner]], low, high)
    by_stratum = np.log10(np.minimum(both[: len(f)] / both[len(f):], 1.0))
    # the hub's calendar: the share of its pairs besides the fan's starting on the fan's grid,
    # stretched over the whole log
    on_grid, pairs = _hub_on_grid(transfers, side, hub, fan, regular, first, grid, worst)
    inside = np.maximum(steps - 1.0, m - 2.0)
    # the stratum's share on the grid (its J - 1 points inside the window), the prior of a
    # calendar seen through few pairs
    prior = np.minimum(inside * np.bincount(f, weights=10.0 ** by_stratum, minlength=n_fans)
                       / np.maximum(m - 2.0, 1.0), 1.0)
    calendar = (m - 2.0) * np.log10(np.clip(
        (np.maximum(on_grid - m, 0.0) + prior) / np.maximum(pairs - m + 1.0, 1.0), 1e-300, 1.0))
    ways = (gammaln(inside + 1.0) - gammaln(inside - (m - 2.0) + 1.0)) / _LN10
    landed = np.maximum(np.bincount(f, weights=by_stratum, minlength=n_fans) + ways, calendar)
    chance = landed + np.log10(np.maximum(steps * (steps + 1.0) / np.maximum(m - 1.0, 1.0),
                                          1.0))
    return np.where(regular, np.minimum(chance, 0.0), np.nan)


def _hub_on_grid(transfers: pd.DataFrame, side: str, hub: np.ndarray, fan: np.ndarray,
                 regular: np.ndarray, first: np.ndarray, grid: np.ndarray, worst: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per fan (``regular`` ones; 0 for the rest): its hub's pairs (the hub at their ``side``,
    a known first transfer) and those of them starting within ``worst`` of the grid
    ``first + j grid``, any whole ``j``."""
    n_fans = len(regular)
    on_grid, pairs = np.zeros(n_fans), np.zeros(n_fans)
    owner = np.full(n_fans, -1, np.int64)
    owner[fan] = hub
    fans = np.flatnonzero(regular)
    if len(fans) == 0:
        return on_grid, pairs
    at, ts = transfers[side].to_numpy(np.int64), transfers["ts"].to_numpy(np.float64)
    mine = (ts >= 0) & np.isin(at, owner[fans])
    joined = pd.DataFrame({"fan": fans, "hub": owner[fans]}).merge(
        pd.DataFrame({"hub": at[mine], "ts": ts[mine]}), on="hub")
    f = joined["fan"].to_numpy(np.int64)
    phase = np.mod(joined["ts"].to_numpy() - first[f], grid[f])
    near = np.minimum(phase, grid[f] - phase) <= worst[f]
    np.add.at(pairs, f, 1.0)
    np.add.at(on_grid, f, near.astype(np.float64))
    return on_grid, pairs
