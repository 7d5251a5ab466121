"""Money-flow typologies of laundering: chains, fans, scatter-gather, gather-scatter, bipartite.

Launderers rarely send money round a circle (:func:`graph.rings.flows.windowed_cycles`); they
pass it through mule accounts that keep little of it and move it on within hours or days. So the
search starts from *pass-through* flows, read off the snapshot's ``TRANSACTED_WITH`` pairs (each
pair's first transfer time and mean amount, ``amount_sum / count``) and ``PAID_WITH`` pairs
(card payments: the cash-out at the end of a chain):

* the money ``v`` receives from a transfer ``a`` on is *forwarded* when, at some outgoing flow
  ``b`` (a transfer or a card payment) within ``hop_s`` after ``t_a``, what ``v`` sent since
  ``t_a`` matches what it received since ``t_a`` (or ``a`` alone: a split), within the
  conservation band ``[min_conserved, max_conserved]``: the balance came back to where it was.
  Every flow in and out of ``v`` from ``t_a`` to the last such ``b`` belongs to the hop, and
  what comes and goes after it (ordinary spending) does not;
* an outgoing flow ``b`` of ``x_b`` from ``v`` is *funded* when the transfers ``v`` received in
  ``[t_b - hop_s, t_b]`` sum to ``x_b`` within the band (a collector cashing out what its
  spokes sent);
* a transfer is *linked* when it belongs to a forwarded hop or a funded flow's window.

Only accounts with at most ``max_degree`` transfer pairs in and out are searched (merchants and
marketplaces are not mules, and the pair join stays linear in the transfers). Weakly connected
groups of linked transfers are candidates (cut to the transfers within ``span_s`` around their
money-weighted median time; an account ties its transfers together only within one episode,
:func:`episode_components`), labelled by shape: ``flow_bipartite`` (two or more senders and two
or more other receivers of two or more linked transfers each, dense), ``flow_gather_scatter``
(one account both gathers and scatters), ``flow_scatter_gather`` (one scatters, another gathers),
``flow_fan_out``, ``flow_fan_in``, and ``flow_chain`` (a path of at least ``chain_min_pass``
pass-through accounts); every shape passes money through at least ``min_pass`` accounts (a
fan's hub and a leaf that moves the money on: an ordinary payer who spends what came in on a
few payees is a fan with one). Honest salaries, rent splits and marketplace payouts are fans
too, but the money does not move on within days in amounts that add up, so they give no linked
transfers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from graph.rings.communities import group_rows, induced, split_communities
from graph.rings.config import RingConfig
from graph.rings.flows import FlowGroup, mean_amount
from graph.rings.projection import account_rows, epoch_seconds
from graph.snapshot import Snapshot

#: The candidate kinds this module labels, in the order shapes are tested.
TYPOLOGY_KINDS = ("flow_bipartite", "flow_gather_scatter", "flow_scatter_gather",
                  "flow_fan_out", "flow_fan_in", "flow_chain")
CASH_OUT_RELATION = "PAID_WITH"
#: Times (epoch seconds, below 2**33 until the year 2242) and accounts share one sort key.
_TIME_KEY = np.int64(1 << 33)


@dataclass(frozen=True)
class TypologySettings:
    """Thresholds of :func:`flow_typologies`; their defaults and meaning are those of
    :class:`graph.rings.config.RingConfig` (:meth:`from_ring_config`, :meth:`defaults`)."""

    hop_s: float
    min_conserved: float
    max_conserved: float
    max_degree: int
    span_s: float
    min_fan: int
    chain_min_pass: int
    min_pass: int
    bipartite_min_density: float
    min_size: int
    max_size: int
    seed: int

    @classmethod
    def defaults(cls) -> TypologySettings:
        """The thresholds of a default :class:`~graph.rings.config.RingConfig`."""
        return cls.from_ring_config(RingConfig())

    @classmethod
    def from_ring_config(cls, config: RingConfig) -> TypologySettings:
        """The ``flow_*`` thresholds, sizes and seed of a ring-search config."""
        return cls(
            hop_s=config.flow_hop_s, min_conserved=config.flow_min_conserved,
            max_conserved=config.flow_max_conserved, max_degree=config.flow_pass_max_degree,
            span_s=config.flow_span_s, min_fan=config.flow_min_fan,
            chain_min_pass=config.flow_chain_min_pass, min_pass=config.flow_min_pass,
            bipartite_min_density=config.flow_bipartite_min_density,
            min_size=config.min_size, max_size=config.max_size, seed=config.seed,
        )


def cash_out_table(snapshot: Snapshot, accounts: pd.Index) -> pd.DataFrame:
    """Card payment pairs (account, card) as ``src`` (account row), ``card`` (id), ``count``
    (payments), ``ts`` and ``last`` (first and last payment, epoch s) and ``amount`` (mean per
    payment); empty when the snapshot has no ``PAID_WITH`` pairs."""
    edges = snapshot.edges.get(CASH_OUT_RELATION)
    if edges is None or len(edges) == 0:
        return pd.DataFrame({"src": np.zeros(0, np.int64), "card": np.zeros(0, object),
                             "count": np.zeros(0, np.int64), "ts": np.zeros(0, np.int64),
                             "last": np.zeros(0, np.int64), "amount": np.zeros(0)})
    table = pd.DataFrame({
        "src": account_rows(accounts, edges["src"]),
        "card": edges["dst"].astype(str).to_numpy(dtype=object),
        "count": edges["count"].to_numpy(np.int64),
        "ts": epoch_seconds(edges["first_ts"]),
        "last": epoch_seconds(edges["last_ts"]),
        "amount": mean_amount(edges),
    })
    return table[(table["src"] >= 0) & (table["ts"] >= 0)].reset_index(drop=True)


def flow_typologies(
    transfers: pd.DataFrame,
    cash_outs: pd.DataFrame,
    accounts: pd.Index,
    settings: TypologySettings | None = None,
) -> list[FlowGroup]:
    """Ring candidates from pass-through money flows, each labelled by its typology.

    Parameters
    ----------
    transfers
        :func:`graph.rings.flows.transfer_table` (``src, dst, count, ts, amount``).
    cash_outs
        :func:`cash_out_table`.
    accounts
        Account ids by row (names the accounts in the evidence).
    settings
        Thresholds; defaults of :class:`TypologySettings` when None.

    Returns
    -------
    list of FlowGroup
        Candidates of ``min_size..max_size`` accounts; ``evidence`` names the hubs or the path
        (``Hub:``, ``Path:``), the cash-outs (``CashOut:account->card``), the time span
        (``Span:<hours>h``) and the share of the money passed on (``Conserved:<ratio>``).
    """
    cfg = settings or TypologySettings.defaults()
    n = len(accounts)
    moves = transfers[(transfers["ts"] >= 0) & (transfers["amount"] > 0)].reset_index(drop=True)
    if moves.empty:
        return []
    linked, passed_in, passed_out, cashed = _linked_flows(moves, cash_outs, n, cfg)
    if not linked.any():
        return []
    edge = moves[linked].reset_index(drop=True)
    groups: list[FlowGroup] = []
    position = np.full(n, -1, dtype=np.int64)
    ids = np.asarray(accounts.astype(str), dtype=object)
    for local in group_rows(episode_components(edge, cfg.hop_s)):
        part_edges = edge.iloc[local]
        src, dst = part_edges["src"].to_numpy(), part_edges["dst"].to_numpy()
        rows = np.unique(np.concatenate([src, dst]))
        if len(rows) < cfg.min_size:
            continue
        parts = [rows]
        if len(rows) > cfg.max_size:
            graph = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
            sub = induced(graph, rows, position)
            parts = [rows[p] for p in split_communities(sub + sub.T, cfg.min_size, cfg.max_size,
                                                        seed=cfg.seed)]
        for part in parts:
            group = _typed_group(np.sort(part), part_edges, passed_in, passed_out, cashed, ids,
                                 cfg)
            if group is not None:
                groups.append(group)
    return groups


def episode_components(edge: pd.DataFrame, gap_s: float) -> np.ndarray:
    """Per linked transfer pair of ``edge`` (``src``, ``dst``, ``ts``): its group, the weakly
    connected components of the pairs tied through an account *episode*: an account's linked
    pairs, by first transfer, cut where one starts more than ``gap_s`` after the one before.

    Connected through accounts alone, a ring joined whatever honest flows one of its recruited
    mules had linked days before: a scatter-gather of 17 accounts, run in 13 hours, became one
    group of 39 with an honest hub's gather-scatter through a mule's payment 3.5 days earlier
    (generated flows seed 41), and no group of its own was left."""
    m = len(edge)
    if m == 0:
        return np.zeros(0, np.int64)
    acct = np.r_[edge["src"].to_numpy(np.int64), edge["dst"].to_numpy(np.int64)]
    ts = np.r_[edge["ts"].to_numpy(np.float64), edge["ts"].to_numpy(np.float64)]
    order = np.lexsort((ts, acct))
    new = np.r_[True, (acct[order][1:] != acct[order][:-1]) | (np.diff(ts[order]) > gap_s)]
    node = np.empty(2 * m, np.int64)
    node[order] = np.cumsum(new) - 1
    n_nodes = int(node.max()) + 1
    graph = sp.csr_matrix((np.ones(m), (node[:m], node[m:])), shape=(n_nodes, n_nodes))
    _, labels = connected_components(graph, directed=False)
    return labels[node[:m]]


def _linked_flows(moves: pd.DataFrame, cash_outs: pd.DataFrame, n: int, cfg: TypologySettings
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Per transfer of ``moves``: linked?; per account: money forwarded in / out through it;
    and the funded cash-outs."""
    n_moves = len(moves)
    out_pairs = np.bincount(moves["src"], minlength=n) + np.bincount(
        cash_outs["src"], minlength=n)
    in_pairs = np.bincount(moves["dst"], minlength=n)
    small = (in_pairs <= cfg.max_degree) & (out_pairs <= cfg.max_degree)
    cash = cash_outs[(cash_outs["amount"] > 0) & small[cash_outs["src"].to_numpy()]]
    incoming = pd.DataFrame({"acct": moves["dst"], "a": np.arange(n_moves),
                             "t_a": moves["ts"], "x_a": moves["amount"]})
    incoming = incoming[small[incoming["acct"].to_numpy()]]
    outgoing = pd.DataFrame({
        "acct": np.concatenate([moves["src"].to_numpy(), cash["src"].to_numpy()]),
        # outgoing flows: transfers by their row, cash-outs numbered after them
        "b": np.concatenate([np.arange(n_moves), n_moves + np.arange(len(cash))]),
        "t_b": np.concatenate([moves["ts"].to_numpy(), cash["ts"].to_numpy()]),
        "x_b": np.concatenate([moves["amount"].to_numpy(), cash["amount"].to_numpy()]),
    })
    outgoing = outgoing[small[outgoing["acct"].to_numpy()]]
    pairs = incoming.merge(outgoing, on="acct")
    pairs = pairs[(pairs["t_b"] >= pairs["t_a"]) & (pairs["t_b"] <= pairs["t_a"] + cfg.hop_s)]
    pairs = pairs.sort_values(["a", "t_b", "b"], kind="stable")
    # at each outgoing flow b after a: what left since t_a, and what came in since t_a
    sent = pairs.groupby("a")["x_b"].cumsum().to_numpy()
    acct = pairs["acct"].to_numpy()
    received = (_received_until(incoming, acct, pairs["t_b"].to_numpy(), "right")
                - _received_until(incoming, acct, pairs["t_a"].to_numpy(), "left"))
    balanced = _in_band(sent / pairs["x_a"].to_numpy(), cfg) | _in_band(sent / received, cfg)
    # forwarded: from t_a to the last balanced moment, every flow in and out belongs to the hop
    horizon = pairs[balanced].groupby("a")["t_b"].max()
    starts = incoming.set_index("a").loc[horizon.index]
    spans = pd.DataFrame({"acct": starts["acct"].to_numpy(), "t_start": starts["t_a"].to_numpy(),
                          "t_end": horizon.to_numpy()})
    ins = spans.merge(incoming, on="acct")
    ins = ins[(ins["t_a"] >= ins["t_start"]) & (ins["t_a"] <= ins["t_end"])]
    outs = spans.merge(outgoing, on="acct")
    outs = outs[(outs["t_b"] >= outs["t_start"]) & (outs["t_b"] <= outs["t_end"])]
    # funded: an outgoing flow matching what came in over the hop_s before it (a cash-out)
    funded_sum = pairs.groupby("b")["x_a"].sum()
    x_b = pd.concat([moves["amount"], cash["amount"]], ignore_index=True).to_numpy()
    funded = funded_sum.index.to_numpy()[
        _in_band(x_b[funded_sum.index.to_numpy()] / funded_sum.to_numpy(), cfg)]
    funding = pairs[np.isin(pairs["b"], funded)]
    in_window = pd.concat([ins[["acct", "a", "x_a"]], funding[["acct", "a", "x_a"]]])
    out_window = pd.concat([outs[["acct", "b", "x_b"]], funding[["acct", "b", "x_b"]]])
    linked = np.zeros(n_moves + len(cash), dtype=bool)
    linked[out_window["b"].to_numpy()] = True
    linked[in_window["a"].to_numpy()] = True
    # money passed through each account: what came in on linked flows, what went out on them
    passing = in_window.drop_duplicates("a")
    passed_in = np.bincount(passing["acct"], weights=passing["x_a"], minlength=n)
    leaving = out_window.drop_duplicates("b")
    passed_out = np.bincount(leaving["acct"], weights=leaving["x_b"], minlength=n)
    cashed = cash.iloc[np.flatnonzero(linked[n_moves:])]
    # busy accounts are neither mules nor members: through a popular payee, every ring whose
    # mules happen to pay it would join one group
    members = small[moves["src"].to_numpy()] & small[moves["dst"].to_numpy()]
    return linked[:n_moves] & members, passed_in, passed_out, cashed


def _received_until(incoming: pd.DataFrame, acct: np.ndarray, ts: np.ndarray, side: str
                    ) -> np.ndarray:
    """Money each ``acct`` received before ``ts`` (``side="left"``) or up to it (``"right"``)."""
    key = incoming["acct"].to_numpy() * _TIME_KEY + incoming["t_a"].to_numpy()
    order = np.argsort(key, kind="stable")
    total = np.r_[0.0, np.cumsum(incoming["x_a"].to_numpy()[order])]
    return total[np.searchsorted(key[order], acct * _TIME_KEY + ts, side=side)]


def _in_band(ratio: np.ndarray, cfg: TypologySettings) -> np.ndarray:
    """Which ratios of money passed on to money received lie in the conservation band."""
    return (ratio >= cfg.min_conserved) & (ratio <= cfg.max_conserved)


def _typed_group(rows: np.ndarray, edge: pd.DataFrame, passed_in: np.ndarray,
                 passed_out: np.ndarray, cashed: pd.DataFrame, ids: np.ndarray,
                 cfg: TypologySettings) -> FlowGroup | None:
    """The group of ``rows`` labelled by its shape, or None when no typology fits."""
    inside = edge[np.isin(edge["src"], rows) & np.isin(edge["dst"], rows)]
    # stray transfers linked to the group by chance (a small payment in a mule's window, weeks
    # away) are cut: the group is what moved within span_s around the money-weighted median time
    order = np.argsort(inside["ts"].to_numpy(), kind="stable")
    ts, amount = inside["ts"].to_numpy()[order], inside["amount"].to_numpy()[order]
    middle = ts[np.searchsorted(np.cumsum(amount), amount.sum() / 2)]
    inside = inside.iloc[order[np.abs(ts - middle) <= cfg.span_s / 2]]
    rows = np.unique(inside[["src", "dst"]].to_numpy())
    if len(rows) < cfg.min_size:
        return None
    ts = inside["ts"].to_numpy()
    span = float(ts.max() - ts.min())
    out_deg = inside.groupby("src")["dst"].nunique()
    in_deg = inside.groupby("dst")["src"].nunique()
    scatter = out_deg.index[out_deg >= cfg.min_fan].to_numpy()
    gather = in_deg.index[in_deg >= cfg.min_fan].to_numpy()
    passing = rows[(passed_in[rows] > 0) & (passed_out[rows] > 0)]
    hubs = np.union1d(scatter, gather)
    senders = out_deg.index[out_deg >= 2].to_numpy()
    receivers = in_deg.index[in_deg >= 2].to_numpy()
    density = len(inside) / max(len(senders) * len(receivers), 1)
    if (len(senders) >= 2 and len(receivers) >= 2 and not len(np.intersect1d(senders, receivers))
            and density >= cfg.bipartite_min_density):
        kind, hubs = "flow_bipartite", np.union1d(senders, receivers)
    elif len(np.intersect1d(scatter, gather)):
        kind = "flow_gather_scatter"
    elif len(scatter) and len(gather):
        kind = "flow_scatter_gather"
    elif len(scatter):
        kind = "flow_fan_out"
    elif len(gather):
        kind = "flow_fan_in"
    elif len(passing) >= cfg.chain_min_pass:
        kind = "flow_chain"
    else:
        return None
    if len(passing) < cfg.min_pass:
        return None
    cash = cashed[np.isin(cashed["src"], rows)]
    money_in, money_out = passed_in[passing].sum(), passed_out[passing].sum()
    conserved = money_out / money_in
    if not cfg.min_conserved <= conserved <= 2 - cfg.min_conserved:
        return None
    if kind == "flow_chain":
        order = inside.sort_values("ts")
        path = list(dict.fromkeys(np.concatenate(
            order[["src", "dst"]].to_numpy()).tolist()))
        evidence = ["Path:" + "->".join(ids[path])]
    else:
        evidence = [f"Hub:{ids[h]}" for h in hubs]
    evidence += [f"CashOut:{ids[s]}->{c}" for s, c in zip(cash["src"], cash["card"],
                                                             strict=True)]
    evidence += [f"Span:{span / 3600:.1f}h", f"Conserved:{conserved:.2f}"]
    return FlowGroup(rows, kind, evidence)
