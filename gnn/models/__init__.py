"""Neural network modules: plain ``torch.nn.Module`` backbones the detectors wrap."""

from gnn.models.aggregation import AGGREGATORS, aggregate
from gnn.models.ensemble import MeanEnsemble
from gnn.models.sep_hetero_conv import SepHeteroConv
from gnn.models.sep_hetero_gnn import SepHeteroGNN

__all__ = ["AGGREGATORS", "MeanEnsemble", "SepHeteroConv", "SepHeteroGNN", "aggregate"]
