import pytest

from graph.rings.config import RingConfig, load_ring_config


def test_yaml_section_and_overrides(tmp_path):
    path = tmp_path / "rings.yaml"
    path.write_text("rings:\n  max_size: 30\n  hub_degree_cap: 50\n")
    cfg = load_ring_config(path, hub_degree_cap=70)
    assert (cfg.max_size, cfg.hub_degree_cap, cfg.min_size) == (30, 70, RingConfig().min_size)


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "rings.yaml"
    path.write_text("max_sise: 30\n")
    with pytest.raises(ValueError, match="max_sise"):
        load_ring_config(path)


def test_bad_bounds_are_rejected():
    with pytest.raises(ValueError, match="min_size"):
        RingConfig(min_size=10, max_size=5)
    with pytest.raises(ValueError, match="lockstep_window_s"):
        RingConfig(lockstep_window_s=0.0)
    with pytest.raises(ValueError, match="flow_min_fan"):
        RingConfig(flow_min_fan=70, flow_period_max_days=64)
    with pytest.raises(ValueError, match="burst_fresh_s"):
        RingConfig(burst_fresh_s=-1.0)


def test_component_size_limit_is_twice_max_size_unless_given():
    assert RingConfig(max_size=30).component_size_limit == 60
    assert RingConfig(max_size=30, max_component_size=45).component_size_limit == 45
    with pytest.raises(ValueError, match="max_component_size"):
        RingConfig(max_size=30, max_component_size=20)


def test_max_group_size_is_at_least_max_size():
    assert RingConfig().max_group_size >= RingConfig().max_size
    assert not RingConfig().whole_groups  # off by default (review R6)
    assert RingConfig(max_size=30, max_group_size=30).max_group_size == 30
    with pytest.raises(ValueError, match="max_group_size"):
        RingConfig(max_size=60, max_group_size=50)


def test_shipped_config_loads():
    import dataclasses
    from pathlib import Path

    import yaml
    path = Path(__file__).resolve().parents[3] / "configs" / "rings.yaml"
    cfg = load_ring_config(path)
    assert cfg == RingConfig()
    # the file spells every setting out
    spelled = set(yaml.safe_load(path.read_text())["rings"])
    assert spelled == {f.name for f in dataclasses.fields(RingConfig)}


def test_locality_scales_load_as_a_tuple_of_floats(tmp_path):
    path = tmp_path / "rings.yaml"
    path.write_text("rings:\n  locality_resolutions: [2, 8]\n  locality: false\n")
    cfg = load_ring_config(path)
    assert cfg.locality_resolutions == (2.0, 8.0) and cfg.locality is False
    assert RingConfig().locality and len(RingConfig().locality_resolutions) >= 1
