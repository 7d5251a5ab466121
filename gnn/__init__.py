"""Graph learning: snapshot -> HeteroData, a time-aware sampler, the account detector, baselines.

PyG is imported here first, so that whichever ``gnn`` module needs it, its import-time warning
is muted: PyG 2.8 compiles a few pooling helpers with ``torch.jit.script`` when it is imported,
which recent torch (2.15 here) reports as deprecated (a FutureWarning about PyG's code, not ours).
"""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="`torch.jit.script` is deprecated", category=FutureWarning
    )
    import torch_geometric  # noqa: F401
