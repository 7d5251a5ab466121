from pathlib import Path

import yaml

from gnn.detector import AccountDetector

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "detect.yaml"


def test_detect_yaml_matches_the_detector_defaults():
    documented = yaml.safe_load(CONFIG.read_text())["detector"]
    defaults = AccountDetector().get_params()
    assert {k: defaults[k] for k in documented} == documented
    assert set(defaults) - set(documented) <= {"verbose", "num_threads"}
