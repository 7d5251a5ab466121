// evidence_path: the shortest links from an account to known-bad accounts.
//
// Parameters:
//   $account_id  string  id of Account  the account under review (exact id)
//   $limit       int     = 5  in 1..100  at most this many known-bad accounts (nearest first)
//   $graph       string       the graph to search (default: the only one in the store)
//
// Known-bad accounts carry label = 1 (from the snapshot's labels file). Paths go through shared
// devices, IPs, payment methods and transactions, up to 4 hops, never through ring membership
// (a ring is a conclusion, not evidence). Returns one row per known-bad account reached:
// known_bad_id, hops, path_nodes (`Type:id` from the account to the known-bad one) and
// path_relationships (relationship types along the path).
//
// Neo4j Browser:
//   :params {graph: 'demo', account_id: 'acc-000042', limit: 5}
MATCH (account:Account {graph: $graph, id: $account_id})
MATCH path = ANY SHORTEST
  (account)-[:!MEMBER_OF]-{1,4}(bad:Account WHERE bad.label = 1 AND bad <> account)
RETURN bad.id AS known_bad_id, length(path) AS hops,
       [n IN nodes(path) | labels(n)[0] + ':' + n.id] AS path_nodes,
       [r IN relationships(path) | type(r)] AS path_relationships
ORDER BY hops, known_bad_id
LIMIT $limit
