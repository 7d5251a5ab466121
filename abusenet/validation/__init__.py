"""Automated model validation: each job in its own module.

- :mod:`abusenet.validation.config`: the ``validation:`` section of a run config (gates, drift);
- :mod:`abusenet.validation.out_of_time`: the latest window of labels held out, time slices;
- :mod:`abusenet.validation.challenger`: XGB-Graph and the GNN + XGB-Graph blend as candidates,
  the winner chosen on validation labels;
- :mod:`abusenet.validation.gates`: the promotion gates, each passed or failed by a margin;
- :mod:`abusenet.validation.drift`: a model's training reference and the drift of new data;
- :mod:`abusenet.validation.promotion`: the champion re-scored, the gates checked, register and
  promote.
"""
