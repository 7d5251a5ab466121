"""The run summary's line when no ring is reported."""

from __future__ import annotations

from abusenet.pipeline.summary import no_rings_line


def test_candidates_judged_and_none_passing_is_not_called_none_found():
    line = no_rings_line(907)
    assert "907 ring candidates" in line
    assert "No ring candidates were found" not in line


def test_no_candidate_at_all_says_so():
    assert no_rings_line(0) == "No ring candidates were found."
