// ring_of_account: the ring(s) an account belongs to, with all members and the entities they share.
//
// Parameters:
//   $account_id  string  id of Account  the account to look up (exact id)
//   $graph       string  the graph to search (default: the only one in the store)
//
// Returns one row per ring holding the account, riskiest first: ring_id, score, kind, size,
// detected_at, model_version, members (account ids, sorted) and shared_entities (`Type:id` of
// every device, IP, payment method or other entity used by at least two members).
//
// Neo4j Browser:
//   :params {graph: 'demo', account_id: 'acc-000042'}
MATCH (account:Account {graph: $graph, id: $account_id})-[:MEMBER_OF]->(ring:Ring)
CALL (ring) {
  MATCH (member:Account)-[:MEMBER_OF]->(ring)
  WITH member ORDER BY member.id
  RETURN collect(member.id) AS members
}
CALL (ring) {
  // Entities are every node a member points to that is neither an account nor a ring.
  MATCH (member:Account)-[:MEMBER_OF]->(ring)
  MATCH (member)-->(entity)
  WHERE NOT entity:Account AND NOT entity:Ring
  WITH entity, count(DISTINCT member) AS used_by
  WHERE used_by >= 2
  WITH labels(entity)[0] + ':' + entity.id AS shared ORDER BY shared
  RETURN collect(shared) AS shared_entities
}
RETURN ring.id AS ring_id, ring.score AS score, ring.kind AS kind, ring.size AS size,
       ring.detected_at AS detected_at, ring.model_version AS model_version,
       members, shared_entities
ORDER BY score DESC, ring_id
