// accounts_near_entity: accounts within k hops of a flagged device, payment method, IP or account.
//
// Parameters:
//   $entity_type  string         Device, IP, PaymentMethod or Account
//   $entity_id    string         the flagged entity's id (exact)
//   $k            int     = 2    hops to walk, 1 to 4
//   $limit        int     = 200  at most this many accounts
//   $graph        string         the graph to search (default: the only one in the store)
//
// Device -> Account is 1 hop; an account sharing an IP with that account is 3 hops away.
// Returns one row per account reached, nearest first: account_id, hops (the shortest distance),
// risk_score, first_ts. The walk is breadth-first over every relationship except MEMBER_OF (ring
// membership is a result, not evidence), so each node is visited once even around busy hubs.
//
// Neo4j Browser:
//   :params {graph: 'demo', entity_type: 'Device', entity_id: 'dev-000017', k: 2, limit: 200}
CALL () {
  // One index lookup per label; a label cannot be a parameter.
  MATCH (start:Device {graph: $graph, id: $entity_id}) WHERE $entity_type = 'Device' RETURN start
  UNION
  MATCH (start:IP {graph: $graph, id: $entity_id}) WHERE $entity_type = 'IP' RETURN start
  UNION
  MATCH (start:PaymentMethod {graph: $graph, id: $entity_id}) WHERE $entity_type = 'PaymentMethod' RETURN start
  UNION
  MATCH (start:Account {graph: $graph, id: $entity_id}) WHERE $entity_type = 'Account' RETURN start
}
CALL (start) {
  OPTIONAL MATCH (start)-[:!MEMBER_OF]-(next)
  WHERE $k >= 1 AND next <> start
  RETURN collect(DISTINCT next) AS hop1
}
CALL (start, hop1) {
  UNWIND hop1 AS node
  OPTIONAL MATCH (node)-[:!MEMBER_OF]-(next)
  WHERE $k >= 2 AND next <> start AND NOT next IN hop1
  RETURN collect(DISTINCT next) AS hop2
}
CALL (start, hop1, hop2) {
  UNWIND hop2 AS node
  OPTIONAL MATCH (node)-[:!MEMBER_OF]-(next)
  WHERE $k >= 3 AND next <> start AND NOT next IN hop1 AND NOT next IN hop2
  RETURN collect(DISTINCT next) AS hop3
}
CALL (start, hop1, hop2, hop3) {
  UNWIND hop3 AS node
  OPTIONAL MATCH (node)-[:!MEMBER_OF]-(next)
  WHERE $k >= 4 AND next <> start AND NOT next IN hop1 AND NOT next IN hop2
        AND NOT next IN hop3
  RETURN collect(DISTINCT next) AS hop4
}
UNWIND [[hop1, 1], [hop2, 2], [hop3, 3], [hop4, 4]] AS layer
UNWIND layer[0] AS account
WITH account, layer[1] AS hops
WHERE account:Account
RETURN account.id AS account_id, hops, account.risk_score AS risk_score,
       account.first_ts AS first_ts
ORDER BY hops, account_id
LIMIT $limit
