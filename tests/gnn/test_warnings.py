"""A normal fit, score and explanation prints no warnings (library ones muted at the call).

Torch reports some of its warnings once per process, so an earlier test would hide them: the
run happens in a fresh interpreter that turns every warning into an error.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import numpy as np
import torch

from gnn.data import neighbor_aggregates, snapshot_to_heterodata
from gnn.detector import AccountDetector
from gnn.entity_scores import entity_scores_from_accounts
from tests.gnn.planted import planted_rings

torch.set_num_threads(1)
snapshot, truth = planted_rings(num_accounts=120, num_rings=4)
detector = AccountDetector(max_epochs=2, batch_size=64, hidden_channels=16)
detector.fit(snapshot, truth, progress=True)
scores = detector.score_accounts(snapshot)
detector.score_entities(snapshot)
detector.explain(snapshot, list(truth["account_id"][:2]), top_k=2, progress=True)

read_only = scores["score"].to_numpy().copy()
read_only.flags.writeable = False
data, _ = snapshot_to_heterodata(snapshot)
entity_scores_from_accounts(data, read_only)
rows = np.arange(40)
rows.flags.writeable = False
detector.graph_logits(data, rows)
neighbor_aggregates(torch.randn(10, 3), torch.randint(0, 10, (2, 30)))
print("done")
"""


def test_fit_and_score_emit_no_warnings():
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "done"
    assert "Warning" not in result.stderr, result.stderr[-3000:]
