"""Event (transaction) risk: time-aware event features, the event model, rolling evaluation."""
