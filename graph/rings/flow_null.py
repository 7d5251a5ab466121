"""How surprising a group's money flows are by chance: a null model of transfer pairs.

A group tied by transfers is grown through them: the search's count of the groups it could
have picked (:func:`graph.rings.null_model.selection_log_count`) pays for its ``k - 1`` tree
links at each member's full number of counterparties, and
:func:`graph.rings.null_model.beyond_tree` for the links beyond those. What is left to judge is
*how* the money moved. The null keeps every transfer pair (``src``, ``dst``, how often it
transacted, how long it lasted) and, independently for each pair,

* **permutes when pairs start** among pairs that last about as long (last minus first
  transfer: a day or less, else the same power of two in days): a pair's first transfer is
  one of its *duration stratum*'s first transfers, drawn at random. Schedules running through
  the whole log all start when the log does, one-off transfers wherever the log's traffic
  is; a pair starting when its stratum's pairs rarely do is what a burst looks like;
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
  (:func:`hop_log_chance`), and a member receiving (or sending) ``min_fan`` or more
  transfers of nearly equal amounts a fan (:func:`fan_log_chance`).

Only the tree links are charged their window (a group picked from an anchor entity's users
did not even pay for those); links beyond the tree keep the chance of their existence alone.
Window and class judge a group tied by money, every member with a transfer inside it: in a
group of 25 where 6 pass money round, they are evidence about the 6, which the search lists
on their own, not about the 25.
Each term is one statistic's tail or a union bound, and the members' hops and fans are
combined by Fisher's method, so a large group of ordinary flows gathers no evidence from many
unremarkable ones, and every term overestimates the chance (the surprise is conservative).

What it explains: honest schedules (a payroll, rent, a merchant's regular suppliers) repeat
over the log, so the pairs that last as long, and their payers' peers, explain them; bursts of
one-off transfers between busy accounts are what busy accounts do. What it does not: a
handful of accounts with few counterparties moving money among themselves in one-off
transfers inside a few days (AMLSim's alert cycles and fans), or mules repeating one route
within hours.

Everything is vectorised over the (group, transfer) entries: no Python loop per group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom, chi2

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


@dataclass(frozen=True)
class MoneyChance:
    """Per group, the log10 chance (<= 0) of its money flows (:func:`money_log_chance`).

    Attributes
    ----------
    shape
        Its hops and fans: their timing and amounts.
    links
        Its tree links' window and count class (:func:`window_log_chance`,
        :func:`habit_log_chance`), for a group whose transfers tie every member (0 for one
        where only some members transfer: that evidence is about them, not the group).
    """

    shape: np.ndarray
    links: np.ndarray


def money_log_chance(
    internal: pd.DataFrame,
    transfers: pd.DataFrame,
    sizes: np.ndarray,
    hop_s: float,
    min_conserved: float,
    max_conserved: float,
    min_fan: int = 3,
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
    """
    sizes = np.asarray(sizes, np.float64)
    n_groups = len(sizes)
    repeated = transfers["count"].to_numpy() >= 2
    amounts = transfers["amount"].to_numpy(np.float64)
    pools = [np.sort(amounts[(repeated == bool(c)) & (amounts > 0)])
             for c in range(COUNT_CLASSES)]
    shape = (hop_log_chance(internal, transfers, pools, hop_s, min_conserved, max_conserved,
                            n_groups)
             + fan_log_chance(internal, pools, n_groups, min_fan))
    links = (window_log_chance(internal, transfers, sizes)
             + habit_log_chance(internal, transfers, sizes))
    return MoneyChance(shape=shape, links=np.where(tied_members(internal, n_groups) >= sizes,
                                                   links, 0.0))


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
    lasting = np.maximum(np.asarray(transfers["last"], np.float64)
                         - np.asarray(transfers["ts"], np.float64), 0.0) / 86400.0
    return np.floor(np.log2(np.maximum(lasting, 1.0))).astype(np.int64) + (lasting > 1.0)


def start_share(transfers: pd.DataFrame, stratum: np.ndarray, low: np.ndarray,
                high: np.ndarray) -> np.ndarray:
    """Per query: the share of the transfer pairs of duration ``stratum``
    (:func:`duration_strata`) whose first transfer falls in ``[low, high]``, at least one
    pair's share (1 for a stratum without pairs)."""
    everyone = transfers[transfers["ts"] >= 0]
    pool = duration_strata(everyone)
    starts = everyone["ts"].to_numpy(np.float64)
    share = np.ones(len(stratum))
    for value in np.unique(stratum):
        mine = stratum == value
        share[mine] = sorted_share(np.sort(starts[pool == value]), low[mine], high[mine])
    return share


def window_log_chance(internal: pd.DataFrame, transfers: pd.DataFrame, sizes: np.ndarray
                      ) -> np.ndarray:
    """Per group: the log10 chance (<= 0) that its tree links start inside its window.

    A link starts inside the window (from its group's first to last link start) with the
    share of the pairs of its duration stratum (:func:`duration_strata`) whose first transfer
    does (its own included, :func:`start_share`). The likeliest link anchors the window; the
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
    chance = np.log10(start_share(transfers, duration_strata(known), first[cand], last[cand]))
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
) -> np.ndarray:
    """Per group: the log10 chance (<= 0) of its conserved short hops of money.

    A *hop* is money passing through a member ``v``: a transfer ``a`` into ``v`` and a transfer
    ``b`` out of it, both internal to the group, with ``t_a <= t_b <= t_a + hop_s`` and
    ``x_b / x_a`` in ``[min_conserved, max_conserved]``. ``b`` follows ``a`` as closely as it
    does with the share of ``b``'s duration stratum starting from ``t_a`` to ``t_b`` (at least
    ``MIN_GAP_S`` on: :func:`start_share`), and comes as close to its amount with the share of
    ``b``'s class's amounts (``pools``, sorted, by :func:`count_class`) between ``x_b`` and
    ``x_a``. Per member its least likely hop counts,
    times the number of internal (in, out) pairs it had to choose from (a union bound);
    members without a hop add nothing.

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
    """
    out = np.zeros(n_groups)
    known = internal[(internal["ts"] >= 0) & (internal["amount"] > 0)]
    if known.empty:
        return out
    ins = known.rename(columns={"dst": "v", "ts": "t_a", "amount": "x_a"})[
        ["cand", "v", "t_a", "x_a"]]
    outs = known.assign(c_b=count_class(known["count"]), d_b=duration_strata(known)).rename(
        columns={"src": "v", "ts": "t_b", "amount": "x_b"})[
        ["cand", "v", "t_b", "x_b", "c_b", "d_b"]]
    pairs = ins.merge(outs, on=["cand", "v"])
    if pairs.empty:
        return out
    choices = pairs.groupby(["cand", "v"]).size()
    ratio = pairs["x_b"] / pairs["x_a"]
    hop = ((pairs["t_b"] >= pairs["t_a"]) & (pairs["t_b"] <= pairs["t_a"] + hop_s)
           & (ratio >= min_conserved) & (ratio <= max_conserved))
    pairs = pairs[hop.to_numpy()]
    if pairs.empty:
        return out
    x_a, x_b = pairs["x_a"].to_numpy(), pairs["x_b"].to_numpy()
    low, high = np.minimum(x_a, x_b), np.maximum(x_a, x_b)
    share = np.ones(len(pairs))
    for c, pool in enumerate(pools):
        mine = pairs["c_b"].to_numpy() == c
        share[mine] = sorted_share(pool, low[mine], high[mine])
    t_a = pairs["t_a"].to_numpy(np.float64)
    soon = start_share(transfers, pairs["d_b"].to_numpy(),
                       t_a, np.maximum(pairs["t_b"].to_numpy(np.float64), t_a + MIN_GAP_S))
    chance = np.log10(soon) + np.log10(share)
    best = pd.Series(chance, index=pd.MultiIndex.from_frame(pairs[["cand", "v"]])
                     ).groupby(level=[0, 1]).min()
    value = np.minimum(best.to_numpy() + np.log10(choices.reindex(best.index).to_numpy()), 0.0)
    return fisher_log10(value, best.index.get_level_values(0).to_numpy(np.int64), n_groups)


def fan_log_chance(internal: pd.DataFrame, pools: list[np.ndarray], n_groups: int,
                   min_fan: int = 3) -> np.ndarray:
    """Per group: the log10 chance (<= 0) of its members' fans of nearly equal amounts.

    A member receiving ``k >= min_fan`` internal transfers of one count class (a fan-in; a
    fan-out likewise) whose amounts span the share ``q`` of that class's amounts (``pools``)
    has them by chance with probability at most ``k q^(k - 1)``. Which transfers make the fan
    is not counted here (the selection count pays for its links), nor when (the window).
    A group's fans are combined by :func:`fisher_log10`; a transfer is in its payer's fan-out
    and its payee's fan-in, so that none counts twice a group's fans-in or its fans-out count,
    whichever are less likely together.
    """
    out = np.zeros(n_groups)
    known = internal[(internal["ts"] >= 0) & (internal["amount"] > 0)]
    if known.empty:
        return out
    known = known.assign(c=count_class(known["count"]))
    for hub in ("dst", "src"):
        fans = known.groupby(["cand", hub, "c"]).agg(k=("amount", "size"),
                                                     x0=("amount", "min"),
                                                     x1=("amount", "max"))
        fans = fans[fans["k"] >= min_fan]
        if fans.empty:
            continue
        k = fans["k"].to_numpy(np.float64)
        c = fans.index.get_level_values(2).to_numpy()
        share = np.ones(len(fans))
        for cls, pool in enumerate(pools):
            mine = c == cls
            share[mine] = sorted_share(pool, fans["x0"].to_numpy()[mine],
                                       fans["x1"].to_numpy()[mine])
        chance = np.minimum(np.log10(k) + (k - 1) * np.log10(share), 0.0)
        out = np.minimum(out, fisher_log10(
            chance, fans.index.get_level_values(0).to_numpy(np.int64), n_groups))
    return out
