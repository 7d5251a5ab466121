// shared_between: everything two accounts have in common.
//
// Parameters:
//   $account_a  string  id of Account  one account (exact id)
//   $account_b  string  id of Account  the other account (exact id)
//   $graph      string  the graph to search (default: the only one in the store)
//
// Returns one row per shared node or direct link: kind ('entity' for a device, IP, payment
// method or other entity both used; 'counterparty' for an account both transacted with; 'ring'
// for a ring both belong to; 'direct' when they transacted with each other), shared_type,
// shared_id, a_link and b_link (relationship types), a_count and b_count (event counts on them).
//
// Neo4j Browser:
//   :params {graph: 'demo', account_a: 'acc-000042', account_b: 'acc-000043'}
MATCH (a:Account {graph: $graph, id: $account_a}),
      (b:Account {graph: $graph, id: $account_b})
CALL (a, b) {
  MATCH (a)-[ra]-(shared)-[rb]-(b)
  WHERE shared <> a AND shared <> b
  RETURN CASE WHEN shared:Ring THEN 'ring' WHEN shared:Account THEN 'counterparty'
              ELSE 'entity' END AS kind,
         labels(shared)[0] AS shared_type, shared.id AS shared_id,
         type(ra) AS a_link, type(rb) AS b_link, ra.count AS a_count, rb.count AS b_count
  UNION
  MATCH (a)-[t:TRANSACTED_WITH]-(b)
  RETURN 'direct' AS kind, 'Account' AS shared_type, null AS shared_id,
         CASE WHEN startNode(t) = a THEN 'TRANSACTED_WITH' ELSE null END AS a_link,
         CASE WHEN startNode(t) = b THEN 'TRANSACTED_WITH' ELSE null END AS b_link,
         t.count AS a_count, t.count AS b_count
}
RETURN kind, shared_type, shared_id, a_link, b_link, a_count, b_count
ORDER BY kind, shared_type, shared_id, a_link, b_link
