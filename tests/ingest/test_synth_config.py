"""Tests of the generator's knobs (ingest/synth/config.py) and configs/synth.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.synth import SynthConfig, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_defaults_file_matches_the_code():
    assert load_config(ROOT / "configs" / "synth.yaml") == SynthConfig()


def test_shipped_mapping_loads():
    from ingest.mapping import load_mapping

    mapping = load_mapping(ROOT / "configs" / "mappings" / "synth.yaml")
    assert mapping.attributes == {"channel": "string", "status": "string"}
    assert mapping.labels is not None


def test_partial_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "knobs.yaml"
    path.write_text("abuse_fraction: 0.05\nhousehold_size_weights: [1, 1]\n")
    config = load_config(path)
    assert config.abuse_fraction == 0.05
    assert config.household_size_weights == (1, 1)
    assert config.ring_size_max == SynthConfig().ring_size_max


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("household_size_weights: [1, 1\n", r'(?s)not valid YAML: .*knobs.yaml", line 2, column 1'),
        ("abuse_fraktion: 0.1\n", "unknown generator knob.*abuse_fraktion"),
        ("- 1\n- 2\n", "expected a mapping"),
        ("ring_size_min: 2\n", "ring_size_min"),
        ("abuse_fraction: 1.5\n", "abuse_fraction"),
    ],
)
def test_bad_files_are_explained(tmp_path, text, message):
    path = tmp_path / "knobs.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)
