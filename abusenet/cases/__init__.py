"""Investigators' decisions: the append-only decisions file, and the labels they make.

An analyst confirms or dismisses a ring, an account, an entity or an event
(``abusenet case confirm|dismiss``); each decision is one line of
``<home>/cases/decisions.jsonl`` (:mod:`abusenet.cases.decisions`) and one ``Decision`` node in
Neo4j (:mod:`graph.store.decisions`). :func:`abusenet.cases.labels.decisions_to_labels` turns
the file into canonical label tables for the next run.
"""
