"""`abusenet serve`: real-time scoring of events over a batch run's graph and model."""
