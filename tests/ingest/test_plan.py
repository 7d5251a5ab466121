"""ingest.plan: what a run needs from its mapping, worked out once."""

import pytest

from ingest.mapping import MappingError
from ingest.plan import IngestPlan
from ingest.validate import event_schema
from tests.ingest.helpers import ROWS, log_mapping, write_csv


def test_a_plan_holds_the_mappings_settings_and_columns():
    mapping = log_mapping(attributes={"note": "string"}, delimiter=";")
    plan = IngestPlan.of(mapping)
    assert plan.mapping is mapping
    assert plan.fingerprint == mapping.fingerprint()
    assert (plan.header, plan.delimiter) == (None, ";")
    assert plan.source_columns == tuple(mapping.source_columns())
    assert plan.event_columns == tuple(event_schema(mapping).names)
    assert plan.event_columns[-1] == "note"


def test_a_plan_checks_a_files_columns(tmp_path):
    plan = IngestPlan.of(log_mapping())
    plan.check_columns(write_csv(tmp_path / "good.csv", ROWS))
    with pytest.raises(MappingError, match="columns.account_id"):
        plan.check_columns(write_csv(tmp_path / "bad.csv", ["a,2024-01-01"], header="user,when"))
