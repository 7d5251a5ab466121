"""Held-out-style shapes benchmark (issue 19): generated marketplace worlds in a user's own
schema, honest look-alikes beside abuse shapes, run through ``abusenet run`` and scored.

``python -m benchmarks.shapes [--worlds ...] [--seed N] [--out DIR] [--quick]``; see
``benchmarks/README.md`` ("Shapes").
"""
