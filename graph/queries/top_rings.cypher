// top_rings: the highest-scoring rings of the latest detection run.
//
// Parameters:
//   $limit      int    = 20   in 1..1000  at most this many rings
//   $min_score  float  = 0.0  only rings scoring at least this
//   $graph      string        the graph to search (default: the only one in the store)
//
// Returns one row per ring, best first: ring_id, score, kind, size, detected_at, model_version,
// and top_members (up to 10 member ids, riskiest first).
//
// Neo4j Browser:
//   :params {graph: 'demo', limit: 20, min_score: 0.5}
MATCH (ring:Ring)
WHERE ring.score >= $min_score AND ring.graph = $graph
  // A ring whose members are all gone is no ring (the load removes it too).
  AND EXISTS { (:Account)-[:MEMBER_OF]->(ring) }
WITH ring ORDER BY ring.score DESC, ring.id LIMIT $limit
CALL (ring) {
  MATCH (member:Account)-[:MEMBER_OF]->(ring)
  WITH member ORDER BY coalesce(member.risk_score, -1.0) DESC, member.id
  RETURN collect(member.id)[..10] AS top_members
}
RETURN ring.id AS ring_id, ring.score AS score, ring.kind AS kind, ring.size AS size,
       ring.detected_at AS detected_at, ring.model_version AS model_version, top_members
ORDER BY score DESC, ring_id
