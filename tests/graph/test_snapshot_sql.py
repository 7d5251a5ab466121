from graph.snapshot_sql import RelationSource, edge_sql, event_type_features, relation_sources
from ingest.state import IngestState


def test_event_type_feature_names_are_unique_slugs():
    assert event_type_features(["Log-In", "log in", "other", ""]) == [
        "n_events_log_in", "n_events_log_in_2", "n_events_other_2", "n_events_blank"]


def test_relation_sources_are_the_built_in_relations_then_the_mapping_entities():
    state = IngestState(entities={"Email": {"relation": "USED_EMAIL", "column": "email"}})
    assert [r.name for r in relation_sources(state)] == [
        "USED_DEVICE", "USED_IP", "PAID_WITH", "TRANSACTED_WITH", "USED_EMAIL"]
    assert relation_sources(state)[-1] == RelationSource("USED_EMAIL", "Email", "email")


def test_edges_are_read_from_the_relations_pairs_table():
    sql = edge_sql(RelationSource("USED_IP", "IP", "ip"))
    assert 'FROM "pairs_USED_IP"' in sql
