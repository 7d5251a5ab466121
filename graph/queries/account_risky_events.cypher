// account_risky_events: where an account's riskiest events happened (its relationships by event risk).
//
// Parameters:
//   $account_id  string  id of Account  the account
//   $min_risk    float   = 0.0  in 0..1  relationships whose max_event_risk is at least this
//   $limit       int     = 20   in 1..1000  at most this many relationships
//   $graph       string         the graph to search (default: the only one in the store)
//
// The graph has no event nodes: a run with an event model puts each event's score on the
// account-to-entity relationships the event belongs to (its terminal, card, device, IP):
// max_event_risk (the highest score of those events), risky_events (how many scored at least
// 0.5) and event_risk_at. Returns one row per relationship, riskiest first: account_id,
// relationship, entity_type, entity_id, max_event_risk, risky_events, events (all the
// account's events there), entity_risk and entity_method.
//
// Neo4j Browser:
//   :params {graph: 'demo', account_id: 'cust_0001', min_risk: 0.0, limit: 20}
MATCH (account:Account {graph: $graph, id: $account_id})-[r]->(entity)
WHERE r.max_event_risk IS NOT NULL AND r.max_event_risk >= $min_risk
RETURN account.id AS account_id, type(r) AS relationship, labels(entity)[0] AS entity_type,
       entity.id AS entity_id, r.max_event_risk AS max_event_risk,
       r.risky_events AS risky_events, r.count AS events, entity.risk_score AS entity_risk,
       entity.risk_method AS entity_method
ORDER BY max_event_risk DESC, risky_events DESC, entity_type, entity_id
LIMIT $limit
