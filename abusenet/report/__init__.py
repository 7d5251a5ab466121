"""The self-contained HTML report of a batch run.

Public API::

    from abusenet.report import ReportData, build_report, report_title, ring_subgraph
    build_report(data, "out/report.html")
"""

from __future__ import annotations

import os
from pathlib import Path

from abusenet.report.data import ReportData, report_title
from abusenet.report.html import TOP_RING_QUERY, render_report, top_ring_query
from abusenet.report.subgraph import RingSubgraph, ring_subgraph

__all__ = ["TOP_RING_QUERY", "ReportData", "RingSubgraph", "build_report", "render_report",
           "report_title", "ring_subgraph", "top_ring_query"]


def build_report(data: ReportData, path: str | os.PathLike[str]) -> Path:
    """Write the report of ``data`` to ``path`` (through a temporary file and a rename).

    Returns
    -------
    Path
        ``path``.
    """
    from ingest.files import write_text_atomic

    target = Path(path)
    write_text_atomic(target, render_report(data))
    return target
