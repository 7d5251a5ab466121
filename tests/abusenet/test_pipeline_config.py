"""Run settings: defaults, the shipped config files, overrides and the errors for bad keys and
values."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from abusenet.pipeline.config import DEFAULTS, ConfigError, load_run_config
from abusenet.pipeline.plan import serve_start_stage

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_default_yaml_spells_out_the_builtin_defaults():
    assert load_run_config(CONFIGS / "default.yaml") == load_run_config(None) == DEFAULTS


def test_demo_yaml_loads_and_only_changes_what_it_names():
    config = load_run_config(CONFIGS / "demo.yaml")
    assert config.detector.max_epochs == 12
    assert config.ingest == DEFAULTS.ingest


def test_overrides_are_parsed_as_yaml_and_win_over_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("detector:\n  max_epochs: 9\n")
    config = load_run_config(path, ["detector.max_epochs=3", "detector.num_neighbors=[4, 2]",
                                    "labels.unlabelled_as_negative=false"])
    assert config.detector.model_dump(exclude_unset=True) == {"max_epochs": 3,
                                                         "num_neighbors": [4, 2]}
    assert config.labels.unlabelled_as_negative is False


@pytest.mark.parametrize(
    ("text", "overrides", "needle"),
    [
        ("detectr:\n  max_epochs: 3\n", [], "unknown section 'detectr'"),
        ("rings:\n  max_sizee: 3\n", [], "unknown setting rings.max_sizee"),
        ("neo4j:\n  password: hunter2\n", [], "never put credentials"),
        ("", ["detector.max_epochs"], "is not SECTION.KEY=VALUE"),
        ("", ["report.top_rngs=3"], "known settings of 'report'"),
        ("- a\n- b\n", [], "must hold a mapping"),
    ],
)
def test_bad_settings_are_refused_with_the_key_named(tmp_path, text, overrides, needle):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_run_config(path, overrides)


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_run_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["detector.max_epochs=abc"],
         "override 'detector.max_epochs=abc': detector.max_epochs = 'abc' is not valid: "
         "Input should be a valid integer"),
        (["labels.unlabelled_as_negative=maybe"],
         "labels.unlabelled_as_negative = 'maybe' is not valid: Input should be a valid boolean"),
        (["neo4j.load_mode=fast"],
         "neo4j.load_mode = 'fast' is not valid: Input should be 'auto', 'driver' or 'bulk'"),
        (["detector.num_neighbors=[a, 2]"],
         "detector.num_neighbors = ['a', 2] is not valid: [0]: Input should be a valid integer"),
        (["labels.holdout_fraction=1"], "labels.holdout_fraction = 1 is not valid"),
        (["ingest.max_bad_fraction=1.5"],
         "ingest.max_bad_fraction = 1.5 is not valid: Input should be less than or equal to 1"),
        (["rings.min_size=60"], "rings = {'min_size': 60} is not valid: Value error, ring config"),
        (["labels.from_events=all"],
         "labels.from_events = 'all' is not valid: Input should be 'any' or 'none'"),
    ],
)
def test_a_bad_value_names_the_key_the_value_and_what_is_allowed(overrides, expected):
    with pytest.raises(ConfigError) as failed:
        load_run_config(None, overrides)
    assert expected in str(failed.value)


def test_every_bad_value_gets_one_line_naming_where_it_was_set(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("report:\n  top_rings: many\n")
    with pytest.raises(ConfigError) as failed:
        load_run_config(path, ["ring_scoring.top_k=x", "detector.lr=fast"])
    lines = str(failed.value).splitlines()
    assert len(lines) == 3
    assert any(line.startswith(f"{path}: report.top_rings = 'many'") for line in lines)
    assert any(line.startswith("override 'ring_scoring.top_k=x'") for line in lines)
    assert any("detector.lr = 'fast' is not valid: Input should be a valid number" in line
               for line in lines)


def test_settings_are_typed_and_read_only():
    config = load_run_config(None, ["detector.max_epochs=7", "rings.max_size=30",
                                    "ring_scoring.min_score=0"])
    assert config.detector.max_epochs == 7 and config.rings.max_size == 30
    assert config.ring_scoring.min_score == 0.0
    assert "min_score" not in config.ring_scoring.score_rings_kwargs()
    with pytest.raises(ValueError, match="frozen"):
        config.report.top_rings = 3


def test_from_events_is_typed_and_left_out_of_the_split_settings():
    config = load_run_config(None, ["labels.from_events=none"])
    assert config.labels.from_events == "none" and DEFAULTS.labels.from_events == "any"
    assert config.labels.split_settings() == {"holdout_fraction": 0.2, "seed": 0,
                                              "unlabelled_as_negative": "auto",
                                              "rare_tie_users": 0}


def test_serve_prepare_start_off_drops_the_serve_start_stage(tmp_path):
    def planned(*overrides: str) -> SimpleNamespace:
        return SimpleNamespace(training=True, config=load_run_config(None, list(overrides)),
                               model=tmp_path / "model", snapshot=tmp_path / "snapshot",
                               request=SimpleNamespace(out_dir=tmp_path))

    assert serve_start_stage(planned()).name == "serve_start"
    assert serve_start_stage(planned("serve.prepare_start=false")) is None
    with pytest.raises(ConfigError, match="prepare_start"):
        load_run_config(None, ["serve.prepare_start=maybe"])


def test_the_detector_ensemble_setting_is_a_count_or_auto():
    config = load_run_config(None, ["detector.ensemble=auto", "detector.ensemble_size=5"])
    assert config.detector.model_dump(exclude_unset=True) == {"ensemble": "auto",
                                                              "ensemble_size": 5}
    assert load_run_config(None, ["detector.ensemble=3"]).detector.ensemble == 3
    with pytest.raises(ConfigError, match="detector.ensemble = 'many' is not valid"):
        load_run_config(None, ["detector.ensemble=many"])
