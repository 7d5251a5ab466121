"""The stages of a batch run, as plain functions from input paths and settings to output files.

Every stage function writes only into the ``out`` directory it is given (the runner makes it a
fresh temporary directory and renames it into place when the function returns) and returns a
small JSON-serialisable ``info`` dict for the progress display, the cache record and the summary.
:mod:`abusenet.pipeline.plan` wires them; nothing here knows about caching.

:mod:`~abusenet.pipeline.stages.files`
    The names of the files and directories the stages write.
:mod:`~abusenet.pipeline.stages.data`
    Logs to events, events to the graph snapshot, the snapshot to ring candidates.
:mod:`~abusenet.pipeline.stages.labels`
    Training and held-back evaluation labels.
:mod:`~abusenet.pipeline.stages.detect`
    Train, score, rings, evaluation and explanations.
:mod:`~abusenet.pipeline.stages.neo4j`
    Loading the graph into Neo4j and writing the results back.
:mod:`~abusenet.pipeline.stages.report`
    ``report.html``.
"""
