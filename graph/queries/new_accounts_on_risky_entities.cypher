// new_accounts_on_risky_entities: accounts first seen since a date on a high-risk entity.
//
// Parameters:
//   $since     datetime         accounts whose first_ts is at or after this (ISO-8601,
//                               e.g. '2024-03-01' or '2024-03-01T12:00:00Z')
//   $min_risk  float     = 0.5  entities whose risk_score (from the latest run) is at least this
//   $limit     int       = 100  in 1..1000  at most this many rows
//   $graph     string           the graph to search (default: the only one in the store)
//
// Returns one row per (new account, risky entity) link, riskiest entity first: account_id,
// first_ts, entity_type, entity_id, entity_risk, account_risk.
//
// Neo4j Browser:
//   :params {graph: 'demo', since: '2024-03-01', min_risk: 0.5, limit: 100}
CALL () {
  // The risk_score index of each entity label finds the risky ones without a scan.
  MATCH (entity:Device) WHERE entity.risk_score >= $min_risk AND entity.graph = $graph RETURN entity
  UNION
  MATCH (entity:IP) WHERE entity.risk_score >= $min_risk AND entity.graph = $graph RETURN entity
  UNION
  MATCH (entity:PaymentMethod) WHERE entity.risk_score >= $min_risk AND entity.graph = $graph RETURN entity
}
MATCH (account:Account)-->(entity)
WHERE account.first_ts >= datetime($since)
RETURN account.id AS account_id, account.first_ts AS first_ts,
       labels(entity)[0] AS entity_type, entity.id AS entity_id,
       entity.risk_score AS entity_risk, account.risk_score AS account_risk
ORDER BY entity_risk DESC, first_ts DESC, account_id, entity_id
LIMIT $limit
