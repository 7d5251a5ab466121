"""The batch pipeline: logs -> graph -> detection -> outputs, report and Neo4j, with caching.

Public API::

    from abusenet.pipeline import RunRequest, load_run_config, run_pipeline
    config = load_run_config("configs/default.yaml", ["detector.max_epochs=5"])
    result = run_pipeline(RunRequest(inputs=["logs/"], mapping=Path("map.yaml"),
                                     out_dir=Path("out"), config=config, labels=Path("l.csv")))
"""

from abusenet.pipeline.config import ConfigError, RunConfig, load_run_config
from abusenet.pipeline.errors import PipelineError
from abusenet.pipeline.outputs import check_outputs
from abusenet.pipeline.request import RunRequest, neo4j_settings_for_run
from abusenet.pipeline.run import RunResult, run_pipeline

__all__ = [
    "ConfigError",
    "PipelineError",
    "RunConfig",
    "RunRequest",
    "RunResult",
    "check_outputs",
    "load_run_config",
    "neo4j_settings_for_run",
    "run_pipeline",
]
