"""Model inputs for mini-batches and whole graphs, and logits computed from them.

Without time bounds a row's logit reads every neighbour: the whole-graph pass
(:class:`LayerwisePass`) computes every target row's; a few rows (each epoch's validation rows,
a fold scored in the boosted-mode choice) are computed on their receptive field alone
(:class:`FieldPass`), at a cost that follows the field, not the graph: the same values, to the
last bit on an AVX-512 CPU with MKL, to float32 rounding (~1e-6) elsewhere."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np
import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import NodeLoader
from torch_geometric.typing import EdgeType

from gnn.models.aggregation import mean_adjacency
from gnn.models.sep_hetero_gnn import SepHeteroGNN
from gnn.sampler import TemporalNeighborSampler

if TYPE_CHECKING:
    from gnn.sampler import _EdgeCSR


def long_tensor(values: np.ndarray | torch.Tensor) -> torch.Tensor:
    """An int64 tensor holding a copy of ``values`` (read-only arrays, say from Parquet, too)."""
    return torch.from_numpy(np.array(values, dtype=np.int64))


def align_to_model(data: HeteroData, model: SepHeteroGNN) -> HeteroData:
    """``data`` restricted/extended to the node and edge types ``model`` was trained on.

    Missing node types get no nodes (and features of the trained width), missing edge types no
    edges, so a snapshot lacking a relation the model knows still scores.
    """
    aligned = HeteroData()
    for t, width in model.in_channels.items():
        features = width - sum(1 for et in model.edge_types if et[2] == t)
        if t in data.node_types:
            aligned[t].x = data[t].x
            aligned[t].num_nodes = data[t].num_nodes
        else:
            aligned[t].x = torch.zeros((0, features))
            aligned[t].num_nodes = 0
    for et in model.edge_types:
        if et in data.edge_types:
            aligned[et].edge_index = data[et].edge_index
            aligned[et].edge_time = data[et].edge_time
        else:
            aligned[et].edge_index = torch.empty((2, 0), dtype=torch.long)
            aligned[et].edge_time = torch.empty(0, dtype=torch.long)
    return aligned


def batch_inputs(
    batch: HeteroData, sampler: TemporalNeighborSampler, target_type: str
) -> dict[str, torch.Tensor]:
    """Node features of a sampled mini-batch joined with their time-bounded degree features.

    In a disjoint (time-aware) batch every node inherits the time of the seed whose tree it
    belongs to, so degrees count only edges that existed at that time.
    """
    node_times = None
    if "batch" in batch[target_type] and "seed_time" in batch[target_type]:
        seed_time = batch[target_type].seed_time
        node_times = {t: seed_time[batch[t].batch] for t in batch.node_types}
    degrees = sampler.degree_features({t: batch[t].n_id for t in batch.node_types}, node_times)
    return {t: torch.cat([batch[t].x, degrees[t]], dim=1) for t in batch.node_types}


def hop_counts(batch: HeteroData) -> dict[str, list[int]]:
    """Nodes per type and hop of a sampled mini-batch (its nodes are ordered by hop)."""
    return {t: list(batch[t].num_sampled_nodes) for t in batch.node_types}


def node_inputs(
    data: HeteroData, sampler: TemporalNeighborSampler, node_type: str, rows: slice | np.ndarray
) -> torch.Tensor:
    """Features of ``rows`` of ``node_type`` joined with their full-history degree features."""
    ids = torch.arange(int(data[node_type].num_nodes))[rows]
    degrees = sampler.degree_features({node_type: ids}, None)[node_type]
    return torch.cat([data[node_type].x[rows], degrees], dim=1)


def full_graph_inputs(
    data: HeteroData, sampler: TemporalNeighborSampler
) -> dict[str, torch.Tensor]:
    """Node features of the whole graph joined with full-history degree features."""
    return {t: node_inputs(data, sampler, t, slice(None)) for t in data.node_types}


#: Destination rows one step of the whole-graph pass computes at once: its temporaries are a few
#: ``BLOCK_ROWS x hidden`` floats (and the squares of those rows' neighbours' embeddings).
BLOCK_ROWS = 32_768
#: The fewest rows of a block: a dense product of a few rows (under 12 here, not a multiple of
#: 4) takes another BLAS path whose float sums differ in the last bit from the same rows' in a
#: product of many.
MIN_BLOCK_ROWS = 64


class RowBlocks:
    """Row blocks of one edge type's mean adjacency (CSR rows = destinations, in the sampler's
    neighbour order), built on demand so that no whole-graph matrix or temporary is held."""

    def __init__(self, rowptr: np.ndarray, col: np.ndarray, num_src: int) -> None:
        self.rowptr = torch.from_numpy(rowptr)
        self.col = torch.from_numpy(col)
        self.num_src = num_src

    def aggregate(
        self, x_src: torch.Tensor, rows: slice, aggregators: tuple[str, ...]
    ) -> list[torch.Tensor]:
        """Mean and standard deviation of the neighbours of consecutive ``rows``, as
        :func:`~gnn.models.aggregation.aggregate_blocks` computes them from the whole matrix
        (each row's sum runs over the same neighbours in the same order: equal bits)."""
        bounds = self.rowptr[rows.start : rows.stop + 1]
        crow = bounds - bounds[0]
        col = self.col[int(bounds[0]) : int(bounds[-1])]
        adjacency = mean_adjacency(crow, col, self.num_src)
        blocks = []
        mean = adjacency @ x_src
        for name in aggregators:
            if name == "mean":
                blocks.append(mean)
                continue
            # The squares of these rows' neighbours only, not of every source node.
            gathered = x_src[col]
            local = mean_adjacency(crow, torch.arange(len(col)), len(col))
            std = local @ gathered.mul_(gathered)
            std.sub_(mean * mean).clamp_(min=0.0).add_(1e-8).sqrt_()
            blocks.append(std.mul_((crow[1:] > crow[:-1]).unsqueeze(1)))
        return blocks


class LayerwisePass:
    """The network's whole-graph forward pass computed layer by layer, block by block.

    Layer ``l`` of a node type is computed for all its nodes, ``BLOCK_ROWS`` at a time, relation
    after relation (PyG's layer-wise inference), so the pass holds the embeddings of the layer
    read and the one written, never the edges' messages. The last layer is computed for the
    target nodes only and reads the previous layer one source type at a time: a type's
    embeddings are computed when a relation needs them and dropped when the next relation reads
    another type; the layer below the last reads the input embeddings the same way (each
    encoded again when needed again: cheap, and the same bits). The arithmetic per row is the
    forward pass's (:class:`~gnn.models.SepHeteroGNN` in evaluation mode): the same products,
    sums and normalisations, in the same order.
    """

    def __init__(
        self, model: SepHeteroGNN, data: HeteroData, sampler: TemporalNeighborSampler
    ) -> None:
        self.model = model
        self.data = data
        self.sampler = sampler
        self.num_nodes = {t: int(data[t].num_nodes) for t in model.in_channels}
        self.adjacency = {
            et: RowBlocks(csr.rowptr, csr.col, int(data[et[0]].num_nodes))
            for et, csr in sampler.csr.items()
        }

    def blocks(self, count: int) -> list[slice]:
        """Consecutive row blocks of ``BLOCK_ROWS`` covering ``count`` rows, the last one
        lengthened rather than shorter than :data:`MIN_BLOCK_ROWS`."""
        size = max(BLOCK_ROWS, MIN_BLOCK_ROWS)
        starts = list(range(0, count, size))
        if len(starts) > 1 and count - starts[-1] < MIN_BLOCK_ROWS:
            starts.pop()
        return [slice(lo, hi) for lo, hi in zip(starts, [*starts[1:], count], strict=True)]

    def block_inputs(self, node_type: str, rows: slice) -> torch.Tensor:
        """Model inputs of the consecutive ``rows`` of ``node_type``."""
        return node_inputs(self.data, self.sampler, node_type, rows)

    def encode_block(self, node_type: str, rows: slice) -> torch.Tensor:
        """Input embeddings of the consecutive ``rows`` of ``node_type``."""
        model = self.model
        x = self.block_inputs(node_type, rows)
        if x.size(1) == 0:
            x = x.new_ones((x.size(0), 1))
        return torch.relu(model.encoder_norms[node_type](model.encoders[node_type](x)))

    def encode(self, node_type: str) -> torch.Tensor:
        """Input embeddings of every node of ``node_type`` (:meth:`encode_block` of each
        block: a block encoded alone gets the same bits)."""
        out = torch.empty((self.num_nodes[node_type], self.model.hidden_channels))
        for rows in self.blocks(self.num_nodes[node_type]):
            out[rows] = self.encode_block(node_type, rows)
        return out

    def conv(
        self, layer: int, node_type: str, h: dict[str, torch.Tensor] | OneTypeAtATime,
        out: RowFile | None = None, ego: Rows | None = None,
    ) -> torch.Tensor | RowFile:
        """Layer ``layer``'s output for every node of ``node_type`` from the previous layer's
        embeddings ``h``: a tensor, or written into ``out`` (a :class:`RowFile`, so that the
        layer is never held whole) and ``out`` returned. ``ego``: the node type's own rows of
        ``h`` read a block at a time from there (a :class:`RowFile`, or
        :class:`EncodedBlocks` at the first layer) instead of ``h[node_type]`` whole."""
        conv = self.model.convs[layer]
        ego = h[node_type] if ego is None else ego
        blocks = self.blocks(len(ego))
        weight_blocks = conv.lin[node_type].weight.split(conv._block_widths(node_type), dim=1)
        mixed = torch.empty((len(ego), conv.channels)) if out is None else out
        for b in blocks:
            mixed[b] = torch.addmm(conv.lin[node_type].bias, ego[b], weight_blocks[0].t())
        for et, block in zip(conv.incoming[node_type], weight_blocks[1:], strict=True):
            if et not in self.adjacency or et[0] not in self.num_nodes:
                continue  # no neighbours: a zero block adds nothing
            src = h[et[0]]
            weights = block.split(conv.channels, dim=1)
            for b in blocks:
                parts = self.adjacency[et].aggregate(src, b, conv.aggregators)
                out_rows = mixed[b]
                for part, part_weight in zip(parts, weights, strict=True):
                    out_rows = out_rows.addmm(part, part_weight.t())
                mixed[b] = out_rows
            del src
        for b in blocks:
            mixed[b] = ego[b] + torch.relu(conv.norm[node_type](mixed[b]))
        return mixed

    def logits(self) -> torch.Tensor:
        """Logits of every target node."""
        model = self.model
        target = model.target_type
        last = model.num_layers - 1
        inputs = OneTypeAtATime(self.encode, target)
        kept = [inputs[target]]
        h: dict[str, torch.Tensor] | OneTypeAtATime = inputs
        if last > 1:  # deeper networks: the layers below the last two are held whole
            h = {t: inputs[t] for t in self.num_nodes}
            for layer in range(last - 1):
                h = {t: self.conv(layer, t, h) for t in self.num_nodes}
                kept.append(h[target])
        if last > 0:
            below = h
            h = OneTypeAtATime(lambda t: self.conv(last - 1, t, below), target)
            kept.append(h[target])
        kept.append(self.conv(last, target, h))
        del h, inputs
        return self.head(kept)

    def head(self, kept: list[torch.Tensor]) -> torch.Tensor:
        """Logits of the rows of ``kept`` (the input embeddings and every layer's output of the
        same target rows), the head read ``BLOCK_ROWS`` rows at a time."""
        out = torch.empty(len(kept[0]))
        for b in self.blocks(len(kept[0])):
            out[b] = self.head_rest(self.head_first(kept, b))
        return out

    def head_first(self, kept: list[torch.Tensor], rows: slice) -> torch.Tensor:
        """The head's first layer (before its activation) for the consecutive ``rows`` of
        ``kept``."""
        first = self.model.head[0]
        weights = first.weight.split(self.model.hidden_channels, dim=1)
        hidden = first.bias
        for layer, weight in zip(kept, weights, strict=True):
            hidden = torch.addmm(hidden, layer[rows], weight.t())
        return hidden

    def head_rest(self, hidden: torch.Tensor) -> torch.Tensor:
        """The rest of the head on a block of :meth:`head_first`'s output: one logit a row."""
        for module in self.model.head[1:]:
            hidden = module(hidden)
        return hidden.squeeze(-1)


class Rows(Protocol):
    """A ``(rows, width)`` float32 array read a block of consecutive rows at a time."""

    def __len__(self) -> int: ...

    def __getitem__(self, rows: slice) -> torch.Tensor: ...


class EncodedBlocks:
    """A node type's input embeddings encoded a block of rows at a time when read
    (:meth:`LayerwisePass.encode_block`), never held whole."""

    def __init__(self, run: LayerwisePass, node_type: str) -> None:
        self.run = run
        self.node_type = node_type

    def __len__(self) -> int:
        return self.run.num_nodes[self.node_type]

    def __getitem__(self, rows: slice) -> torch.Tensor:
        """Input embeddings of rows ``rows.start:rows.stop``."""
        return self.run.encode_block(self.node_type, rows)


class RowFile:
    """A float32 ``(rows, width)`` array in an ``.npy`` file whose rows are read and written in
    place through the file (``pread`` / ``pwrite``), a block of consecutive rows at a time, never
    mapped: the pages touched are the page cache's, not the process's (they do not count in
    its resident memory), and a whole-graph layer is never held in memory.

    :meth:`create` makes the file (``capacity`` rows, those not written zero, left as a hole),
    :meth:`open` opens one :meth:`create` (or :func:`numpy.save`) wrote; ``rows`` rows of it are
    used. Close it (or use it as a context manager) when done.
    """

    def __init__(self, path: Path, rows: int, width: int, offset: int, fd: int) -> None:
        self.path = path
        self.rows = rows
        self.width = width
        self._offset = offset
        self._fd = fd

    @classmethod
    def create(cls, path: Path, rows: int, width: int, capacity: int | None = None) -> RowFile:
        """A new file at ``path`` of ``capacity`` (default ``rows``) zero rows of ``width``."""
        capacity = rows if capacity is None else capacity
        with open(path, "wb") as out:
            np.lib.format.write_array_header_1_0(out, {
                "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                "fortran_order": False, "shape": (capacity, width)})
            offset = out.tell()
            out.truncate(offset + capacity * width * 4)
        return cls(path, rows, width, offset, os.open(path, os.O_RDWR))

    @classmethod
    def open(cls, path: Path, rows: int) -> RowFile:
        """The first ``rows`` rows of the float32 2-d ``.npy`` file ``path``, for reading and
        writing."""
        mapped = np.load(path, mmap_mode="r")  # its header read; no page touched
        shape, offset = mapped.shape, mapped.offset
        if (mapped.dtype != np.float32 or not mapped.flags.c_contiguous or len(shape) != 2
                or shape[0] < rows):
            raise ValueError(f"{path}: {mapped.dtype} {shape} is not a float32 array of "
                             f"{rows} rows")
        del mapped
        return cls(path, rows, shape[1], offset, os.open(path, os.O_RDWR))

    def __len__(self) -> int:
        return self.rows

    def _at(self, rows: slice) -> int:
        return self._offset + rows.start * self.width * 4

    def __getitem__(self, rows: slice) -> torch.Tensor:
        """Rows ``rows.start:rows.stop`` (a new tensor)."""
        values = np.empty((rows.stop - rows.start, self.width), dtype=np.float32)
        if os.preadv(self._fd, [values], self._at(rows)) != values.nbytes:
            raise OSError(f"{self.path}: short read of rows {rows.start}:{rows.stop}")
        return torch.from_numpy(values)

    def __setitem__(self, rows: slice, values: torch.Tensor) -> None:
        """Write ``values`` as rows ``rows.start:rows.stop``."""
        data = np.ascontiguousarray(values.numpy(), dtype=np.float32)
        if data.shape != (rows.stop - rows.start, self.width):
            raise ValueError(f"{data.shape} values for rows {rows.start}:{rows.stop}")
        if os.pwritev(self._fd, [data], self._at(rows)) != data.nbytes:
            raise OSError(f"{self.path}: short write of rows {rows.start}:{rows.stop}")

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RowFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class OneTypeAtATime:
    """Embeddings by node type, computed by ``compute`` when asked; only the ``pinned`` type
    (if any) and the last one asked are kept (another is computed again if asked again: same
    bits)."""

    def __init__(self, compute: Callable[[str], torch.Tensor], pinned: str | None) -> None:
        self.compute = compute
        self.pinned = pinned
        self.kept: dict[str, torch.Tensor] = {}

    def __getitem__(self, node_type: str) -> torch.Tensor:
        if node_type not in self.kept:
            self.kept = {t: v for t, v in self.kept.items() if t == self.pinned}
            self.kept[node_type] = self.compute(node_type)
        return self.kept[node_type]


#: :func:`target_logits` scores rows on their receptive field (:class:`FieldPass`) while the
#: field holds at most this share of the graph's nodes, else by the whole-graph pass.
FIELD_SHARE = 0.5


class _Level(NamedTuple):
    """The rows of one node type a level of a :class:`FieldPass` computes: sorted node ids,
    and whether each is needed (a row that is not only fills its blocks to
    :data:`MIN_BLOCK_ROWS`; its value is never read)."""

    rows: np.ndarray
    needed: np.ndarray


class FieldPass(LayerwisePass):
    """The whole-graph pass's logits of a few target rows, computed on their receptive field.

    A row's logit reads layer ``l``'s output of the nodes within ``L - 1 - l`` hops of it (and
    its own), and those read the nodes one hop further at layer ``l - 1``, down to the input
    embeddings of the nodes within ``L`` hops. Level ``k`` holds the rows whose layer ``k - 1``
    output (level 0: input embedding) is needed; each level is computed by
    :meth:`LayerwisePass.conv` from the level below through CSR arrays of just its rows (each
    row's neighbours in the sampler's order), in blocks of at least :data:`MIN_BLOCK_ROWS` rows
    (every row of a type that has fewer, in order, as the whole-graph pass takes them): each
    needed row gets the whole-graph pass's products and sums in the same order. Rows that only
    fill a block up get no neighbours. The dense products' rounding of a row can still depend
    on the size of the block and the row's place in it, as the BLAS kernel the CPU dispatches to
    goes: with MKL on AVX-512 the values are the whole-graph pass's to the last bit (the head's
    last product made so below); with MKL limited to AVX2 (review R50: many CPUs without
    AVX-512) up to 67 of 150 rows differ in the last bits (|diff| up to 3e-6 on 3 layers), so
    an early stop decided on a tie could go the other way there
    (``tests/gnn/test_inference.py``).
    """

    def __init__(
        self, model: SepHeteroGNN, data: HeteroData, sampler: TemporalNeighborSampler,
        levels: list[dict[str, _Level]], index: np.ndarray,
    ) -> None:
        super().__init__(model, data, sampler)
        self.csr = sampler.csr
        self.levels = levels
        self.index = index
        # what no weight changes, kept for the next call: each level's neighbour lists and
        # level 0's model inputs
        self._adjacency: dict[int, dict[EdgeType, RowBlocks]] = {}
        self._inputs: dict[str, torch.Tensor] = {}

    @classmethod
    def of(
        cls, model: SepHeteroGNN, data: HeteroData, sampler: TemporalNeighborSampler,
        index: np.ndarray, share: float | None = None,
    ) -> FieldPass | None:
        """The pass for target rows ``index``, or ``None`` when a level of their receptive
        field holds more than ``share`` (default :data:`FIELD_SHARE`) of the graph's nodes."""
        share = FIELD_SHARE if share is None else share
        num_nodes = {t: int(data[t].num_nodes) for t in model.in_channels}
        limit = share * sum(num_nodes.values())
        if len(index) > share * num_nodes[model.target_type]:  # most rows: not a few
            return None
        index = np.asarray(index, dtype=np.int64)
        need = {model.target_type: np.unique(index)}
        pad: dict[str, np.ndarray] = {}
        levels: list[dict[str, _Level]] = []
        for k in range(model.num_layers, -1, -1):
            level = {t: _filled(need.get(t), pad.get(t), n) for t, n in num_nodes.items()}
            if sum(len(v.rows) for v in level.values()) > limit:
                return None
            levels.append(level)
            if k == 0:
                break
            conv = model.convs[k - 1]
            below: dict[str, list[np.ndarray]] = {t: [v.rows[v.needed]] for t, v in level.items()}
            for t, v in level.items():
                for et in conv.incoming.get(t, []):
                    if et in sampler.csr and et[0] in num_nodes and v.needed.any():
                        below[et[0]].append(_neighbours(sampler.csr[et], v.rows[v.needed]))
            need = {t: np.unique(np.concatenate(parts)) for t, parts in below.items()}
            pad = {t: v.rows[~v.needed] for t, v in level.items()}
        levels.reverse()
        return cls(model, data, sampler, levels, index)

    def block_inputs(self, node_type: str, rows: slice) -> torch.Tensor:
        """Model inputs of level 0's ``rows`` (positions) of ``node_type``."""
        if node_type not in self._inputs:
            self._inputs[node_type] = node_inputs(
                self.data, self.sampler, node_type, self.levels[0][node_type].rows)
        return self._inputs[node_type][rows]

    def _level_adjacency(self, k: int) -> dict[EdgeType, RowBlocks]:
        """Level ``k``'s neighbour lists (needed rows only) as row blocks over level ``k - 1``'s
        rows."""
        if k not in self._adjacency:
            self._adjacency[k] = self._build_adjacency(k)
        return self._adjacency[k]

    def _build_adjacency(self, k: int) -> dict[EdgeType, RowBlocks]:
        adjacency = {}
        for et, csr in self.csr.items():
            dst, src = self.levels[k].get(et[2]), self.levels[k - 1].get(et[0])
            if dst is None or src is None:
                continue
            lengths = np.where(dst.needed, csr.rowptr[dst.rows + 1] - csr.rowptr[dst.rows], 0)
            rowptr = np.zeros(len(dst.rows) + 1, dtype=np.int64)
            np.cumsum(lengths, out=rowptr[1:])
            col = np.searchsorted(src.rows, _neighbours(csr, dst.rows[dst.needed]))
            adjacency[et] = RowBlocks(rowptr, col, len(src.rows))
        return adjacency

    def logits(self) -> torch.Tensor:
        """Logits of the ``index`` rows, in their order."""
        model = self.model
        target = model.target_type
        top = self.levels[-1][target].rows
        h = {t: self.encode_rows(t) for t, v in self.levels[0].items() if len(v.rows)}
        kept = [h[target][np.searchsorted(self.levels[0][target].rows, top)]]
        for k in range(1, len(self.levels)):
            self.adjacency = self._level_adjacency(k)
            below, h = h, {}
            for t, level in self.levels[k].items():
                if len(level.rows):
                    ego = below[t][np.searchsorted(self.levels[k - 1][t].rows, level.rows)]
                    h[t] = self.conv(k - 1, t, _Present(below, model.hidden_channels), ego=ego)
            kept.append(h[target][np.searchsorted(self.levels[k][target].rows, top)])
        return self.head(kept)[np.searchsorted(top, self.index)]

    def head(self, kept: list[torch.Tensor]) -> torch.Tensor:
        """Logits of the top level's rows. The head's last product (one output a row) gives a
        row other bits at the end of a block whose length is not a multiple of the vector
        width than inside one, so each row's rest of the head is computed at its own place in
        its whole-graph block (a block of zeros but for the field's rows: a cheap product)."""
        hidden = torch.cat([self.head_first(kept, b) for b in self.blocks(len(kept[0]))])
        rows = self.levels[-1][self.model.target_type].rows
        out = torch.empty(len(rows))
        for b in self.blocks(self.num_nodes[self.model.target_type]):
            inside = (rows >= b.start) & (rows < b.stop)
            if inside.any():
                at = torch.from_numpy(rows[inside] - b.start)
                block = hidden.new_zeros((b.stop - b.start, hidden.size(1)))
                block[at] = hidden[torch.from_numpy(inside)]
                out[torch.from_numpy(inside)] = self.head_rest(block)[at]
        return out

    def encode_rows(self, node_type: str) -> torch.Tensor:
        """Input embeddings of level 0's rows of ``node_type`` (:meth:`LayerwisePass.encode`
        over them)."""
        out = torch.empty((len(self.levels[0][node_type].rows), self.model.hidden_channels))
        for rows in self.blocks(len(out)):
            out[rows] = self.encode_block(node_type, rows)
        return out


class _Present(dict):
    """A level's embeddings by node type; a type the level does not hold reads as no rows."""

    def __init__(self, values: dict[str, torch.Tensor], width: int) -> None:
        super().__init__(values)
        self.width = width

    def __missing__(self, node_type: str) -> torch.Tensor:
        return torch.empty((0, self.width))


def _neighbours(csr: _EdgeCSR, nodes: np.ndarray) -> np.ndarray:
    """The neighbour lists of ``nodes`` in ``csr``, one after another in ``nodes``' order."""
    start, end = csr.rowptr[nodes], csr.rowptr[nodes + 1]
    lengths = end - start
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return csr.col[np.repeat(start, lengths) + offsets]


def _filled(need: np.ndarray | None, pad: np.ndarray | None, count: int) -> _Level:
    """A level's rows of a type of ``count`` nodes: the ``need``ed ones (sorted, distinct), the
    ``pad`` rows the level above holds (their own rows must be here too), then the first other
    rows up to :data:`MIN_BLOCK_ROWS` (every row of a type that has fewer)."""
    need = np.empty(0, dtype=np.int64) if need is None else need
    pad = np.empty(0, dtype=np.int64) if pad is None else np.setdiff1d(pad, need)
    held = len(need) + len(pad)
    if 0 < held < min(MIN_BLOCK_ROWS, count):
        free = np.setdiff1d(np.arange(min(count, MIN_BLOCK_ROWS + held)),
                            np.concatenate([need, pad]))
        pad = np.concatenate([pad, free[: min(MIN_BLOCK_ROWS, count) - held]])
    rows = np.concatenate([need, pad])
    order = np.argsort(rows, kind="stable")
    needed = np.zeros(len(rows), dtype=bool)
    needed[: len(need)] = True
    return _Level(rows[order], needed[order])


@torch.no_grad()
def full_graph_logits(
    model: SepHeteroGNN,
    data: HeteroData,
    sampler: TemporalNeighborSampler,
    chunk_size: int = 1_000_000,
) -> torch.Tensor:
    """Logits of every target node, every neighbour included (exact, deterministic).

    Computed layer by layer in blocks of rows (:class:`LayerwisePass`): neighbour means are
    sparse-matrix products with row blocks of the sampler's CSR arrays, so the memory beyond
    the graph is about two layers' embeddings (``num_nodes x hidden``), not the whole network's.
    ``chunk_size`` is accepted for the callers' sake (edge-list aggregation reads it; this pass
    gathers no edge list).
    """
    del chunk_size
    model.eval()
    return LayerwisePass(model, data, sampler).logits()


@torch.no_grad()
def field_logits(field: FieldPass) -> torch.Tensor:
    """The logits of ``field``'s rows (:class:`FieldPass`; the network in evaluation mode)."""
    field.model.eval()
    return field.logits()


@torch.no_grad()
def sampled_logits(
    model: SepHeteroGNN,
    data: HeteroData,
    sampler: TemporalNeighborSampler,
    index: np.ndarray,
    time: np.ndarray | None,
    batch_size: int = 1024,
) -> torch.Tensor:
    """Logits of ``index`` nodes of the target type from sampled, time-bounded subgraphs."""
    model.eval()
    target = model.target_type
    loader = NodeLoader(
        data,
        sampler,
        input_nodes=(target, long_tensor(index)),
        input_time=None if time is None else long_tensor(time),
        batch_size=batch_size,
        shuffle=False,
    )
    out = []
    for batch in loader:
        logits = model(
            batch_inputs(batch, sampler, target),
            batch.edge_index_dict,
            num_sampled_nodes_dict=hop_counts(batch),
        )
        out.append(logits[: batch[target].batch_size])
    return torch.cat(out) if out else torch.empty(0)


def target_logits(
    model: SepHeteroGNN,
    data: HeteroData,
    sampler: TemporalNeighborSampler,
    index: np.ndarray,
    time: np.ndarray | None,
    chunk_size: int = 1_000_000,
) -> np.ndarray:
    """Logits of target rows ``index``: from the whole graph, or sampled up to ``time`` per row.

    Without time bounds every neighbour counts (:func:`full_graph_logits`, exact; a few rows
    whose receptive field is a small part of the graph are computed on that field alone,
    :class:`FieldPass`, the same values to float32 rounding); with them each row sees only the
    edges not newer than its time (:func:`sampled_logits`).
    """
    return row_logits(model, data, sampler, index, time, chunk_size)()


def row_logits(
    model: SepHeteroGNN,
    data: HeteroData,
    sampler: TemporalNeighborSampler,
    index: np.ndarray,
    time: np.ndarray | None,
    chunk_size: int = 1_000_000,
) -> Callable[[], np.ndarray]:
    """:func:`target_logits` of ``index`` as a function of no arguments, for a network scored
    again and again as its weights change (each epoch's validation): the rows' receptive field,
    or that it is too wide, is worked out once."""
    if time is not None:
        return lambda: sampled_logits(model, data, sampler, index, time).numpy()
    if len(index) == 0:
        return lambda: np.empty(0, dtype=np.float32)
    field = FieldPass.of(model, data, sampler, index)
    if field is not None:
        return lambda: field_logits(field).numpy()
    return lambda: full_graph_logits(model, data, sampler, chunk_size)[long_tensor(index)].numpy()
