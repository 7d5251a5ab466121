// accounts_near_entity: accounts within k hops of a flagged device, payment method, IP or account.
//
// Parameters:
//   $entity_type  string  one of Device|IP|PaymentMethod|Account  Device, IP, PaymentMethod or Account
//   $entity_id    string  id of $entity_type  the flagged entity's id (exact)
//   $k            int     = 2     in 1..4  hops to walk, 1 to 4
//   $limit        int     = 200   in 1..1000  at most this many accounts
//   $max_degree   int     = 200   in 1..1000  a node with more relationships is a hub: not expanded
//   $max_nodes    int     = 5000  in 1..10000  at most this many nodes reached per hop
//   $graph        string         the graph to search (default: the only one in the store)
//
// Device -> Account is 1 hop; an account sharing an IP with that account is 3 hops away.
// Returns one row per account reached, nearest first: account_id, hops (the shortest distance),
// risk_score, first_ts, truncated and hubs. The walk is breadth-first over every relationship
// except MEMBER_OF (ring membership is a result, not evidence); an account reached by several
// walks keeps the shortest.
// It is bounded: a hub (more than $max_degree relationships, e.g. an IP shared by thousands of
// accounts) is not walked through but listed in hubs as `Type:id (degree)`; the flagged entity
// itself, when a hub, is walked to its first $max_degree neighbours only; each hop keeps at most
// $max_nodes nodes. truncated (the same on every row) is true when any of these cut the walk or
// more than $limit accounts were reached.
//
// Neo4j Browser:
//   :params {graph: 'demo', entity_type: 'Device', entity_id: 'dev-000017', k: 2, limit: 200, max_degree: 200, max_nodes: 5000}
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
WITH start, COUNT { (start)-[:!MEMBER_OF]-() } AS degree
CALL (start) {
  MATCH (start)-[:!MEMBER_OF]-(next)
  WHERE next <> start
  WITH DISTINCT next LIMIT $max_degree
  RETURN collect(next) AS hop1
}
WITH start, hop1,
     CASE WHEN degree > $max_degree
          THEN [labels(start)[0] + ':' + start.id + ' (' + degree + ')'] ELSE [] END AS hubs0
CALL (start, hop1) {
  UNWIND hop1 AS node
  WITH node, COUNT { (node)-[:!MEMBER_OF]-() } AS degree
  WHERE $k >= 2
  WITH collect(CASE WHEN degree > $max_degree
                    THEN labels(node)[0] + ':' + node.id + ' (' + degree + ')' END) AS hubs,
       collect(CASE WHEN degree <= $max_degree THEN node END) AS open
  CALL (open, start, hop1) {
    UNWIND open AS node
    MATCH (node)-[:!MEMBER_OF]-(next)
    WHERE next <> start
    WITH DISTINCT next LIMIT $max_nodes
    RETURN collect(next) AS hop2
  }
  RETURN hubs AS hubs1, hop2
}
CALL (start, hop1, hop2) {
  UNWIND hop2 AS node
  WITH node, COUNT { (node)-[:!MEMBER_OF]-() } AS degree
  WHERE $k >= 3
  WITH collect(CASE WHEN degree > $max_degree
                    THEN labels(node)[0] + ':' + node.id + ' (' + degree + ')' END) AS hubs,
       collect(CASE WHEN degree <= $max_degree THEN node END) AS open
  CALL (open, start, hop1, hop2) {
    UNWIND open AS node
    MATCH (node)-[:!MEMBER_OF]-(next)
    WHERE next <> start
    WITH DISTINCT next LIMIT $max_nodes
    RETURN collect(next) AS hop3
  }
  RETURN hubs AS hubs2, hop3
}
CALL (start, hop1, hop2, hop3) {
  UNWIND hop3 AS node
  WITH node, COUNT { (node)-[:!MEMBER_OF]-() } AS degree
  WHERE $k >= 4
  WITH collect(CASE WHEN degree > $max_degree
                    THEN labels(node)[0] + ':' + node.id + ' (' + degree + ')' END) AS hubs,
       collect(CASE WHEN degree <= $max_degree THEN node END) AS open
  CALL (open, start, hop1, hop2, hop3) {
    UNWIND open AS node
    MATCH (node)-[:!MEMBER_OF]-(next)
    WHERE next <> start
    WITH DISTINCT next LIMIT $max_nodes
    RETURN collect(next) AS hop4
  }
  RETURN hubs AS hubs3, hop4
}
WITH hubs0 + hubs1 + hubs2 + hubs3 AS seen,
     [layer IN [hop1, hop2, hop3, hop4] WHERE size(layer) >= $max_nodes] <> [] AS full,
     [hop1, hop2, hop3, hop4][..$k] AS layers
CALL (seen) {
  // A hub reached by walks of different lengths is listed once.
  UNWIND seen AS hub
  WITH DISTINCT hub ORDER BY hub
  RETURN collect(hub) AS hubs
}
CALL (layers) {
  UNWIND range(1, size(layers)) AS hops
  UNWIND layers[hops - 1] AS account
  WITH account, hops
  WHERE account:Account
  // A node reached again by a longer walk keeps its shortest distance.
  // A sort and a slice: a LIMIT here (a Top) took hundreds of MiB for a few thousand rows.
  WITH account, min(hops) AS hops ORDER BY hops, account.id
  RETURN collect({account: account, hops: hops})[..$limit + 1] AS reached
}
WITH reached, hubs, full OR hubs <> [] OR size(reached) > $limit AS truncated
UNWIND reached[..$limit] AS row
RETURN row.account.id AS account_id, row.hops AS hops, row.account.risk_score AS risk_score,
       row.account.first_ts AS first_ts, truncated, hubs
ORDER BY hops, account_id
