"""Draw a ring's subgraph as a small inline SVG (networkx layout, hand-written SVG markup).

Accounts are circles coloured by risk (white -> red); linked entities have one shape per type;
hovering any node shows its id and score (SVG ``<title>``).
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

import networkx as nx
import pandas as pd

from abusenet.report.subgraph import RingSubgraph

WIDTH, HEIGHT, MARGIN = 420, 300, 22
#: A linked-entity type's fill colour and shape.
Style = tuple[str, str]
ENTITY_STYLE: dict[str, Style] = {
    "Device": ("#4e79a7", "square"),
    "IP": ("#59a14f", "diamond"),
    "PaymentMethod": ("#f28e2b", "card"),
}
#: Styles handed, in order, to the entity types a mapping adds (``entities:``), by sorted name.
EXTRA_STYLES: tuple[Style, ...] = (
    ("#b07aa1", "square"), ("#76b7b2", "diamond"), ("#edc948", "card"),
    ("#9c755f", "diamond"), ("#ff9da7", "square"), ("#bab0ac", "card"),
)


def entity_styles(node_types: Iterable[str]) -> dict[str, Style]:
    """The style of every entity type in ``node_types``: the built-in ones first, in their order,
    then the others by name, each with the next of :data:`EXTRA_STYLES` (cycling when a graph
    has more custom types than styles)."""
    wanted = set(node_types)
    styles = {t: style for t, style in ENTITY_STYLE.items() if t in wanted}
    extra = sorted(wanted - set(ENTITY_STYLE))
    styles.update({t: EXTRA_STYLES[i % len(EXTRA_STYLES)] for i, t in enumerate(extra)})
    return styles


def risk_colour(score: float | None) -> str:
    """Hex colour from white (0) to deep red (1); grey when the score is unknown."""
    if score is None or score != score:
        return "#cccccc"
    s = min(max(float(score), 0.0), 1.0)
    return f"#{255:02x}{int(255 - 200 * s):02x}{int(255 - 210 * s):02x}"


def ring_svg(graph: RingSubgraph, scores: dict[str, float], seed: int = 0,
             styles: dict[str, Style] | None = None) -> str:
    """The SVG markup of ``graph``; ``scores`` maps node ids (accounts, ``Type:id``) to risk.

    ``styles`` gives each entity type its look (default: :func:`entity_styles` of this graph's
    types); pass the same mapping to :func:`legend_svg`.
    """
    if styles is None:
        styles = entity_styles(graph.nodes.loc[~graph.nodes["member"], "node_type"])
    g = nx.Graph()
    g.add_nodes_from(graph.nodes["id"])
    g.add_edges_from(zip(graph.edges["src"], graph.edges["dst"], strict=True))
    if g.number_of_nodes() == 0:
        return ""
    pos = nx.spring_layout(g, seed=seed, k=1.2 / max(g.number_of_nodes(), 1) ** 0.5)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0

    def xy(node: str) -> tuple[float, float]:
        x, y = pos[node]
        return (MARGIN + (x - min(xs)) / span_x * (WIDTH - 2 * MARGIN),
                MARGIN + (y - min(ys)) / span_y * (HEIGHT - 2 * MARGIN))

    parts = [f'<svg class="ring-drawing" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
             f'height="{HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg">']
    for row in graph.edges.itertuples(index=False):
        (x1, y1), (x2, y2) = xy(row.src), xy(row.dst)
        money = row.relation == "TRANSACTED_WITH"
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'class="{"edge-money" if money else "edge"}"><title>{escape(row.relation)} '
            f'x{int(row.count)}</title></line>'
        )
    for row in graph.nodes.itertuples(index=False):
        parts.append(_node(row.id, row.node_type, bool(row.member), xy(row.id),
                           scores.get(row.id), styles))
    parts.append("</svg>")
    return "".join(parts)


def _node(node_id: str, node_type: str, member: bool, at: tuple[float, float],
          score: float | None, styles: dict[str, Style]) -> str:
    x, y = at
    label = f"{node_type} {node_id}" if member else node_id
    title = escape(label + ("" if score is None else f" — risk {score:.3f}"))
    if member:
        return (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" class="account" '
                f'fill="{risk_colour(score)}"><title>{title}</title></circle>')
    colour, shape = styles.get(node_type) or entity_styles([node_type])[node_type]
    if shape == "diamond":
        points = f"{x:.1f},{y - 8:.1f} {x + 8:.1f},{y:.1f} {x:.1f},{y + 8:.1f} {x - 8:.1f},{y:.1f}"
        body = f'<polygon points="{points}" fill="{colour}" class="entity">'
    elif shape == "card":
        body = (f'<rect x="{x - 9:.1f}" y="{y - 6:.1f}" width="18" height="12" rx="3" '
                f'fill="{colour}" class="entity">')
    else:
        body = (f'<rect x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14" '
                f'fill="{colour}" class="entity">')
    closing = "</polygon>" if shape == "diamond" else "</rect>"
    return f"{body}<title>{title}</title>{closing}"


def legend_svg(styles: dict[str, Style]) -> str:
    """A one-line legend: accounts, then every entity type of ``styles`` (the types drawn)."""
    items = [("Account (colour = risk)", "#e05050", "circle")] + [
        (t, c, s) for t, (c, s) in styles.items()
    ]
    width = 8 + sum(24 + 7 * len(text) for text, _, _ in items)
    parts, x = [f'<svg class="legend" width="{width}" height="22" '
                'xmlns="http://www.w3.org/2000/svg">'], 8
    for text, colour, shape in items:
        if shape == "circle":
            parts.append(f'<circle cx="{x + 6}" cy="11" r="6" fill="{colour}"/>')
        elif shape == "diamond":
            parts.append(f'<polygon points="{x + 6},4 {x + 13},11 {x + 6},18 {x - 1},11" '
                         f'fill="{colour}"/>')
        elif shape == "card":
            parts.append(f'<rect x="{x - 1}" y="6" width="14" height="10" rx="3" '
                         f'fill="{colour}"/>')
        else:
            parts.append(f'<rect x="{x}" y="5" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 18}" y="15" font-size="12">{escape(text)}</text>')
        x += 24 + 7 * len(text)
    parts.append("</svg>")
    return "".join(parts)


def entity_scores_lookup(entity_scores: pd.DataFrame, entities: pd.Series) -> dict[str, float]:
    """``Type:id`` -> score for the entities of a drawing."""
    keys = entity_scores["node_type"].astype(str) + ":" + entity_scores["entity_id"].astype(str)
    table = pd.Series(entity_scores["score"].to_numpy(), index=keys)
    wanted = table.reindex(entities.astype(str))
    return {k: float(v) for k, v in wanted.dropna().items()}
