"""Column mappings turn a shop's own layout into the canonical schema, with clear errors."""

from __future__ import annotations

import pandas as pd
import pytest

from sim_data.mapping import Mapping
from sim_data.validate import validate


def shop_frame() -> pd.DataFrame:
    return pd.DataFrame({"impression": ["i1", "i2"], "ts": ["2024-05-01T10:00", "2024-05-01T10:01"],
                         "item": [3, 1], "pscore": [0.2, 0.5], "clicked": [0, 1], "age_band": ["18-25", "26-35"],
                         "internal": [1, 2]})


def write(tmp_path, text):
    path = tmp_path / "map.toml"
    path.write_text(text)
    return path


GOOD = """
kind = "bandit"
[columns]
event_id = "impression"
timestamp = "ts"
action = "item"
propensity = "pscore"
reward = "clicked"
[constants]
position = 0
[features]
columns = ["age_band"]
"""


def test_mapping_renames_fills_constants_and_keeps_features(tmp_path):
    mapped = Mapping.load(write(tmp_path, GOOD)).apply(shop_frame(), "bandit")
    assert list(mapped.columns) == ["event_id", "timestamp", "action", "position", "propensity", "reward",
                                    "context_age_band"]
    table = validate(mapped, "bandit")
    assert table["position"].tolist() == [0, 0]


def test_mapping_names_an_absent_source_column(tmp_path):
    path = write(tmp_path, GOOD.replace('"pscore"', '"p_score"'))
    with pytest.raises(ValueError, match="p_score"):
        Mapping.load(path).apply(shop_frame(), "bandit")


def test_mapping_names_an_unknown_canonical_column(tmp_path):
    path = write(tmp_path, GOOD + '\n')
    text = path.read_text().replace("reward = ", "rewrd = ")
    path.write_text(text)
    with pytest.raises(ValueError, match="rewrd"):
        Mapping.load(path).apply(shop_frame(), "bandit")


def test_mapping_kind_must_match(tmp_path):
    with pytest.raises(ValueError, match="'choice'"):
        Mapping.load(write(tmp_path, GOOD)).apply(shop_frame(), "choice")


def test_bad_toml_and_sections(tmp_path):
    with pytest.raises(ValueError, match="not valid TOML"):
        Mapping.load(write(tmp_path, "kind = "))
    with pytest.raises(ValueError, match="unknown sections"):
        Mapping.load(write(tmp_path, "[colums]\na = 'b'\n"))
