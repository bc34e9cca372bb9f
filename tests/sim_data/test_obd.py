"""The Open Bandit Dataset source: a real fetch of obp 0.5.7's sdist from PyPI, cached as Parquet, and its loaders."""

from __future__ import annotations

import json
import shutil
import tarfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim_data.sources import obd_fetch
from sim_data.sources.obd import (
    CAMPAIGNS,
    POLICIES,
    ChecksumMismatchError,
    fetch_obd_sample,
    load_bts_prior,
    load_obd,
    obd_table_name,
    parse_simple_yaml,
)

N_ITEMS = {"all": 80, "men": 34, "women": 46}
SAMPLE_ROWS = 10_000
SDIST_DATA_DIR = "obp-0.5.7/obp/dataset/obd"


@pytest.fixture(scope="module")
def obd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample, fetched for real from PyPI into a fresh cache directory once for this module."""
    return fetch_obd_sample(tmp_path_factory.mktemp("obd_cache"))


@pytest.fixture(scope="module")
def csv_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The original CSVs, extracted from a second (verified) download of the sdist: the full dataset's layout."""
    work = tmp_path_factory.mktemp("obd_csv")
    sdist = obd_fetch.download_sdist(work)
    with tarfile.open(sdist, "r:gz") as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(SDIST_DATA_DIR + "/")]
        archive.extractall(work, members=members, filter="data")
    return work / SDIST_DATA_DIR


def _copy_layout(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


# --- fetching and the cache ----------------------------------------------------------------------------------------

def test_fetch_writes_parquet_layout_prior_and_provenance(obd_root: Path) -> None:
    assert obd_root.name == "obd"
    assert sorted(p.name for p in obd_root.parent.iterdir()) == ["obd"]  # no temp dirs left beside it
    for policy in POLICIES:
        for campaign in CAMPAIGNS:
            assert (obd_root / policy / campaign / f"{campaign}.parquet").is_file()
            assert (obd_root / policy / campaign / "item_context.parquet").is_file()
    assert not list(obd_root.rglob("*.csv")), "only Parquet is cached"
    assert (obd_root / "prior_bts.yaml").is_file()
    assert "Apache License" in (obd_root / "LICENSE").read_text()
    record = json.loads((obd_root / "provenance.json").read_text())
    assert record["licence"] == "CC BY 4.0"
    assert record["source"] == "obp==0.5.7 sdist from PyPI"
    assert record["file"] == "obp-0.5.7.tar.gz"
    assert record["sha256"] == "3060d67fedfcfadf1e7a6f2608987f74412b5eb74d2c567edeb147595c68f2a0"
    assert "Saito" in record["citation"] and "Open Bandit Dataset" in record["citation"]
    assert datetime.fromisoformat(record["fetched_at"]).tzinfo is not None
    assert sorted(record["tables"]) == sorted(obd_table_name(p, c) for p in POLICIES for c in CAMPAIGNS)


def test_second_fetch_returns_the_cache_without_downloading(obd_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_download(dest: Path) -> Path:
        raise RuntimeError("a cached sample must not be downloaded again")

    monkeypatch.setattr(obd_fetch, "download_sdist", no_download)
    before = (obd_root / "provenance.json").stat().st_mtime_ns
    assert fetch_obd_sample(obd_root.parent) == obd_root
    assert (obd_root / "provenance.json").stat().st_mtime_ns == before
    with pytest.raises(RuntimeError, match="must not be downloaded"):
        fetch_obd_sample(obd_root.parent, force=True)  # force does download
    assert obd_fetch.is_complete(obd_root)


def test_sha_mismatch_is_refused_and_leaves_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(obd_fetch, "OBP_SDIST_SHA256", "0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumMismatchError, match="expected 0{64}.*refusing"):
        fetch_obd_sample(cache)
    assert list(cache.iterdir()) == []  # neither obd/ nor a half-built temp dir


def test_sha_mismatch_on_forced_refetch_keeps_the_old_cache(obd_root: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    old = _copy_layout(obd_root, cache / "obd")
    provenance = (old / "provenance.json").read_bytes()
    monkeypatch.setattr(obd_fetch, "OBP_SDIST_SHA256", "f" * 64)
    with pytest.raises(ChecksumMismatchError):
        fetch_obd_sample(cache, force=True)
    assert sorted(p.name for p in cache.iterdir()) == ["obd"]
    assert obd_fetch.is_complete(old)
    assert (old / "provenance.json").read_bytes() == provenance


def test_incomplete_cache_is_rebuilt(obd_root: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    copy = _copy_layout(obd_root, cache / "obd")
    (copy / "bts" / "men" / "men.parquet").unlink()
    (copy / "stray.txt").write_text("left by someone")
    assert not obd_fetch.is_complete(copy)
    assert fetch_obd_sample(cache) == copy  # an incomplete cache is rebuilt even without force
    assert obd_fetch.is_complete(copy)
    assert not (copy / "stray.txt").exists()
    assert sorted(p.name for p in cache.iterdir()) == ["obd"]
    assert len(load_obd("bts", "men", cache_dir=cache)) == SAMPLE_ROWS


# --- loading -------------------------------------------------------------------------------------------------------

def test_random_all_sample_known_facts(obd_root: Path) -> None:
    log = load_obd("random", "all", cache_dir=obd_root.parent)
    assert len(log) == SAMPLE_ROWS
    assert (log.n_actions, log.n_positions) == (80, 3)
    assert round(float(log.rewards.mean()), 4) == 0.0038
    assert set(np.unique(log.rewards)) == {0.0, 1.0}
    p = log.propensities
    assert np.all((p > 0) & (p <= 1))
    np.testing.assert_allclose(p, 1 / 80)  # the uniform-random logger: 1/80 for every item in every slot
    assert set(np.unique(log.positions)) == {0, 1, 2}
    assert log.actions.min() >= 0 and log.actions.max() < 80
    assert log.table["event_id"].iloc[0] == "obd/random/all/0"
    assert log.table["event_id"].iloc[-1] == f"obd/random/all/{SAMPLE_ROWS - 1}"
    assert str(log.table["timestamp"].dt.tz) == "UTC"
    assert log.table["timestamp"].is_monotonic_increasing
    users = [c for c in log.context_columns if c.startswith("context_user_feature_")]
    affinities = [c for c in log.context_columns if c.startswith("context_affinity_")]
    assert users == [f"context_user_feature_{k}" for k in range(4)]
    assert affinities == [f"context_affinity_{k}" for k in range(80)]
    assert log.table[users].map(lambda v: isinstance(v, str) and len(v) == 32).all().all()
    assert all(pd.api.types.is_float_dtype(log.table[c]) for c in affinities)
    assert log.logging_policy == "random"
    assert log.provenance.licence == "CC BY 4.0"
    assert log.provenance.details["sha256"] == obd_fetch.OBP_SDIST_SHA256
    summary = log.summary()
    assert summary["rows"] == SAMPLE_ROWS and summary["propensity_known"] is True
    assert summary["source"] == "obp==0.5.7 sdist from PyPI"


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("campaign", CAMPAIGNS)
def test_every_table_loads_with_its_item_count(obd_root: Path, policy: str, campaign: str) -> None:
    n = N_ITEMS[campaign]
    log = load_obd(policy, campaign, cache_dir=obd_root.parent)
    assert len(log) == SAMPLE_ROWS
    assert (log.n_actions, log.n_positions) == (n, 3)
    assert log.logging_policy == policy
    assert log.actions.max() < n
    assert np.all((log.propensities > 0) & (log.propensities <= 1))
    if policy == "random":
        np.testing.assert_allclose(log.propensities, 1 / n)
    else:
        assert log.propensities.min() < 1 / n < log.propensities.max()  # Thompson sampling is far from uniform
    assert sum(c.startswith("context_affinity_") for c in log.context_columns) == n  # one affinity per item
    ctx = log.action_context
    assert ctx.shape == (n, 4)
    assert ctx.index.tolist() == list(range(n))
    assert ctx.index.name == "item_id"
    assert list(ctx.columns) == ["item_feature_0", "item_feature_1", "item_feature_2", "item_feature_3"]
    assert pd.api.types.is_float_dtype(ctx["item_feature_0"])


@pytest.mark.parametrize(("policy", "campaign"), [("random", "all"), ("bts", "women")])
def test_csv_directory_layout_gives_the_same_table_as_the_cache(obd_root: Path, csv_layout: Path,
                                                                 policy: str, campaign: str) -> None:
    cached = load_obd(policy, campaign, cache_dir=obd_root.parent)
    from_csv = load_obd(policy, campaign, path=csv_layout)
    pd.testing.assert_frame_equal(from_csv.table, cached.table)
    pd.testing.assert_frame_equal(from_csv.action_context, cached.action_context)
    assert (from_csv.n_actions, from_csv.n_positions) == (cached.n_actions, cached.n_positions)
    assert from_csv.provenance.licence == "CC BY 4.0"
    assert str(csv_layout) in from_csv.provenance.source
    from_parquet_path = load_obd(policy, campaign, path=obd_root)
    pd.testing.assert_frame_equal(from_parquet_path.table, cached.table)


def test_max_rows_reads_the_head_of_the_log(obd_root: Path, csv_layout: Path) -> None:
    full = load_obd("bts", "all", cache_dir=obd_root.parent)
    head_csv = load_obd("bts", "all", path=csv_layout, max_rows=250)
    head_parquet = load_obd("bts", "all", cache_dir=obd_root.parent, max_rows=250)
    pd.testing.assert_frame_equal(head_csv.table, full.table.iloc[:250])
    pd.testing.assert_frame_equal(head_parquet.table, full.table.iloc[:250])
    with pytest.raises(ValueError, match="max_rows"):
        load_obd("bts", "all", path=csv_layout, max_rows=0)


# --- errors --------------------------------------------------------------------------------------------------------

def test_missing_campaign_file_names_the_expected_path(csv_layout: Path, tmp_path: Path) -> None:
    root = _copy_layout(csv_layout, tmp_path / "obd")
    (root / "bts" / "women" / "women.csv").unlink()
    with pytest.raises(FileNotFoundError) as err:
        load_obd("bts", "women", path=root)
    assert str(root / "bts" / "women" / "women.csv") in str(err.value)
    (root / "random" / "men" / "item_context.csv").unlink()
    with pytest.raises(FileNotFoundError, match="item_context.csv"):
        load_obd("random", "men", path=root)
    assert len(load_obd("bts", "men", path=root)) == SAMPLE_ROWS  # the other tables still load
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_obd("random", "all", path=tmp_path / "nowhere")


def test_unknown_policy_or_campaign_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"policy='ucb'.*\['random', 'bts'\]"):
        load_obd("ucb", "all", path=tmp_path)
    with pytest.raises(ValueError, match=r"campaign='kids'.*\['all', 'men', 'women'\]"):
        load_obd("random", "kids", path=tmp_path)
    with pytest.raises(ValueError, match="campaign='kids'"):
        load_bts_prior("kids", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="policy='Random'"):
        obd_table_name("Random", "all")
    assert obd_table_name("bts", "men") == "obd/bts/men"


def test_malformed_log_names_file_column_and_rows(csv_layout: Path, tmp_path: Path) -> None:
    root = _copy_layout(csv_layout, tmp_path / "obd")
    log_file = root / "random" / "men" / "men.csv"
    raw = pd.read_csv(log_file, index_col=0)
    raw.loc[[3, 7], "position"] = 4
    raw.to_csv(log_file)
    with pytest.raises(ValueError, match=r"men\.csv: column 'position' expected slots 1\.\.3.*2 row\(s\), first rows \[3, 7\]"):
        load_obd("random", "men", path=root)
    raw.loc[[3, 7], "position"] = 1
    raw.loc[5, "item_id"] = 34  # one past the campaign's 34 items
    raw.to_csv(log_file)
    with pytest.raises(ValueError, match=r"action.*n_actions=34.*rows 5"):
        load_obd("random", "men", path=root)
    items_file = root / "random" / "women" / "item_context.csv"
    items = pd.read_csv(items_file, index_col=0)
    items.loc[0, "item_id"] = 1
    items.to_csv(items_file)
    with pytest.raises(ValueError, match=r"item_context\.csv: column 'item_id' expected each of the ids 0\.\.45"):
        load_obd("random", "women", path=root)


# --- the Bernoulli-TS prior ----------------------------------------------------------------------------------------

def test_bts_prior_has_one_positive_alpha_beta_per_item(obd_root: Path) -> None:
    for campaign, n in N_ITEMS.items():
        alpha, beta = load_bts_prior(campaign, cache_dir=obd_root.parent)
        assert alpha.shape == beta.shape == (n,)
        assert alpha.dtype == beta.dtype == np.float64
        assert np.all(alpha > 0) and np.all(beta > 0)
    alpha, beta = load_bts_prior("all", cache_dir=obd_root.parent)
    assert (alpha[0], beta[0], alpha[7]) == (47.0, 12198.0, 857.0)  # the first entries of obp's prior_bts.yaml


def test_simple_yaml_parser_subset_and_errors() -> None:
    text = "# prior\nall:\n  alpha:\n    - 1.0\n    - 2  # two\n  beta: [3.5, 4]\nmen:\n  alpha:\n  - 5.0\n  name: 'x'\n"
    assert parse_simple_yaml(text) == {"all": {"alpha": [1.0, 2], "beta": [3.5, 4]}, "men": {"alpha": [5.0], "name": "x"}}
    assert parse_simple_yaml("a:\n") == {"a": None}
    with pytest.raises(ValueError, match="line 3: unexpected indentation"):
        parse_simple_yaml("a:\n  b: 1\n    c: 2\n", where="bad.yaml")
    with pytest.raises(ValueError, match="line 2: key 'a' appears twice"):
        parse_simple_yaml("a: 1\na: 2\n")
    with pytest.raises(ValueError, match="line 1: expected 'key: value'"):
        parse_simple_yaml("just text\n")
    with pytest.raises(ValueError, match="line 2: only scalar list items"):
        parse_simple_yaml("a:\n  - b: 1\n")


def test_hashed_features_stay_strings_even_when_all_digits(csv_layout: Path, tmp_path: Path) -> None:
    root = _copy_layout(csv_layout, tmp_path / "obd")
    log_file = root / "random" / "all" / "all.csv"
    raw = pd.read_csv(log_file, index_col=0)
    raw["user_feature_1"] = "0" + raw.index.astype(str)  # every value looks like a number with a leading zero
    raw.to_csv(log_file)
    log = load_obd("random", "all", path=root)
    assert log.table["context_user_feature_1"].iloc[:3].tolist() == ["00", "01", "02"]
    assert load_obd("random", "all", path=root, max_rows=2).table["context_user_feature_1"].tolist() == ["00", "01"]
