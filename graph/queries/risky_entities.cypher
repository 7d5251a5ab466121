// risky_entities: the riskiest entities, how each score was made, and the accounts that used them.
//
// Parameters:
//   $node_type  string  = any  an entity type (Terminal, Device, IP, PaymentMethod, ...) or any
//   $min_risk   float   = 0.0  in 0..1  entities whose risk_score (latest run) is at least this
//   $limit      int     = 50   in 1..1000  at most this many entities
//   $accounts   int     = 10   in 0..100  accounts listed per entity, riskiest first
//   $graph      string         the graph to search (default: the only one in the store)
//
// Entities are the scored nodes with a risk_method: supervised (the entity model, trained on
// entity labels and on those derived from labelled events) or pooled (the shrunk mean of their
// accounts' scores). Returns one row per entity, riskiest first: entity_type, entity_id,
// risk_score, method, n_accounts (accounts linked to it), accounts (up to $accounts ids, riskiest
// first) and max_event_risk (the highest event score on its relationships; null without an
// event model).
//
// Neo4j Browser:
//   :params {graph: 'demo', node_type: 'Terminal', min_risk: 0.0, limit: 50, accounts: 10}
MATCH (entity)
WHERE entity.graph = $graph AND entity.risk_method IS NOT NULL
  AND entity.risk_score >= $min_risk AND ($node_type = 'any' OR $node_type IN labels(entity))
WITH entity ORDER BY entity.risk_score DESC, entity.id LIMIT $limit
CALL (entity) {
  OPTIONAL MATCH (account:Account)-[r]->(entity)
  WITH account, r ORDER BY coalesce(account.risk_score, -1.0) DESC, account.id
  RETURN count(account) AS n_accounts, collect(account.id)[..$accounts] AS accounts,
         max(r.max_event_risk) AS max_event_risk
}
RETURN labels(entity)[0] AS entity_type, entity.id AS entity_id,
       entity.risk_score AS risk_score, entity.risk_method AS method, n_accounts, accounts,
       max_event_risk
ORDER BY risk_score DESC, entity_type, entity_id
