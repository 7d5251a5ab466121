"""Graph learning: snapshot -> HeteroData, a time-aware sampler, the account detector, baselines.

PyG 2.8 compiles a few pooling helpers with ``torch.jit.script`` when it is imported, which recent
torch (2.15 here) reports as deprecated: a FutureWarning about PyG's code, not ours, printed on
every run. It is muted here by its exact message, for that category only; PyG itself is imported
only by the modules that use it, so ``gnn.labels`` or ``gnn.evaluate`` stay light.
"""

import warnings

warnings.filterwarnings(
    "ignore", message="`torch.jit.script` is deprecated", category=FutureWarning,
    module=r"torch\.jit\._script",
)
