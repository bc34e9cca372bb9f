"""The shop's ids <-> indices: fit, encode, decode, files, and the errors for ids a vocabulary does not know."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim_data.mapping import Mapping
from sim_data.shop import load_shop_table
from sim_data.vocab import Vocabulary


def test_string_ids_become_sorted_indices_and_decode_back():
    v = Vocabulary.fit(pd.Series(["BNR-007", "BNR-001", "BNR-013", "BNR-001"]))
    assert v.actions == ("BNR-001", "BNR-007", "BNR-013")
    np.testing.assert_array_equal(v.encode_actions(["BNR-013", "BNR-001"]), [2, 0])
    assert v.decode_action(1) == "BNR-007"
    assert v.encode_action("BNR-013") == 2


def test_integer_ids_are_indices_unless_the_mapping_says_labels():
    assert Vocabulary.fit(pd.Series([0, 3, 1])).actions is None
    v = Vocabulary.fit(pd.Series([1042, 17, 1042.0]), labels=True)
    assert v.actions == (17, 1042)
    assert v.decode_action(1) == 1042 and isinstance(v.decode_action(1), int)


def test_unknown_id_names_the_id_and_rows():
    v = Vocabulary(("a", "b"))
    with pytest.raises(ValueError, match=r"ids \['zz'\].*rows \[1\]"):
        v.encode_actions(["a", "zz"])
    with pytest.raises(ValueError, match="candidates: id 'q' in row 0"):
        v.encode_candidates(pd.Series(["a q"]))


def test_file_round_trip(tmp_path):
    v = Vocabulary(("BNR-1", 7), position_base=1)
    v.save(tmp_path)
    assert Vocabulary.load(tmp_path) == v
    assert Vocabulary.load_optional(tmp_path / "nowhere") is None


def _banner_file(tmp_path, slots=(1, 2, 3, 1)):
    df = pd.DataFrame({"imp": ["e0", "e1", "e2", "e3"], "ts": ["2026-01-01T00:00:00Z"] * 4,
                       "banner": ["BNR-007", "BNR-001", "BNR-007", "BNR-013"], "slot": list(slots),
                       "p": [0.5, 0.25, 0.5, 0.25], "clicked": [1, 0, 0, 1],
                       "cands": ["BNR-007 BNR-001", "BNR-001 BNR-013", "BNR-007", "BNR-013 BNR-007"]})
    path = tmp_path / "banners.csv"
    df.to_csv(path, index=False)
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\nevent_id = "imp"\ntimestamp = "ts"\naction = "banner"\nposition = "slot"\n'
                       'propensity = "p"\nreward = "clicked"\ncandidates = "cands"\n[ids]\nposition_base = 1\n')
    return path, mapping


def test_shop_file_with_string_ids_and_one_based_slots_loads(tmp_path):
    path, mapping = _banner_file(tmp_path)
    table = load_shop_table(path, "bandit", mapping)
    assert table.vocabulary.actions == ("BNR-001", "BNR-007", "BNR-013")
    np.testing.assert_array_equal(table.log.actions, [1, 0, 1, 2])
    np.testing.assert_array_equal(table.log.positions, [0, 1, 2, 0])
    assert table.log.table["candidates"].tolist() == ["1 0", "0 2", "1", "2 1"]
    assert (table.log.n_actions, table.log.n_positions) == (3, 3)


def test_a_later_log_is_read_with_the_fit_vocabulary_and_new_ids_are_named(tmp_path):
    path, mapping = _banner_file(tmp_path)
    fit = load_shop_table(path, "bandit", mapping).vocabulary
    later = pd.read_csv(path)
    later.loc[2, "banner"] = "BNR-999"
    later.loc[2, "cands"] = "BNR-999"
    later.to_csv(tmp_path / "later.csv", index=False)
    with pytest.raises(ValueError, match=r"later.csv: .*\['BNR-999'\].*rows \[2\]"):
        load_shop_table(tmp_path / "later.csv", "bandit", mapping, vocabulary=fit)


def test_slot_below_the_declared_base_is_an_error_naming_rows(tmp_path):
    path, mapping = _banner_file(tmp_path, slots=(1, 0, 2, 0))
    with pytest.raises(ValueError, match=r"banners.csv: position: .*numbered from 1.*rows \[1, 3\]"):
        load_shop_table(path, "bandit", mapping)


def test_mapping_ids_section_is_checked(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[ids]\nactions = "names"\n')
    with pytest.raises(ValueError, match=r"\[ids\] actions: expected one of"):
        Mapping.load(bad)
    bad.write_text("[ids]\nposition_base = 2\n")
    with pytest.raises(ValueError, match="position_base: expected 0 or 1"):
        Mapping.load(bad)


def test_parquet_directory_is_one_table(tmp_path):
    path, mapping = _banner_file(tmp_path)
    df = pd.read_csv(path)
    folder = tmp_path / "parts"
    folder.mkdir()
    df.iloc[:2].to_parquet(folder / "part-0.parquet")
    df.iloc[2:].to_parquet(folder / "part-1.parquet")
    table = load_shop_table(folder, "bandit", mapping)
    assert len(table.log) == 4
    np.testing.assert_array_equal(table.log.actions, [1, 0, 1, 2])
