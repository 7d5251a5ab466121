"""Graph learning: snapshot -> HeteroData, a time-aware sampler, the account detector, baselines."""
