"""The fidelity pipeline and `retailrl sim fit`: output files, keys, params.json, the synthetic recovery report."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from envs.fit import fit_synthetic
from envs.models import load_model
from envs.params import ClickParams, DemandParams
from retailrl.cli.main import app


def test_cli_sim_fit_cracker_writes_fit_directory(tmp_path):
    result = CliRunner().invoke(app, ["sim", "fit", "cracker", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    f = json.loads((tmp_path / "fidelity.json").read_text())
    assert f["source"] == "cracker" and f["beats_baseline"] and f["own_elasticities_negative"]
    md = (tmp_path / "fidelity.md").read_text()
    assert "cracker_choice.png" in md and (tmp_path / "cracker_choice.png").is_file()
    demand = DemandParams.from_fit_dir(tmp_path)
    assert demand.n_products == 4 and demand.beta_price[0] < 0
    model = load_model(tmp_path / "choice.json")
    assert model.products_ == demand.product_names


def test_cli_rejects_unknown_source(tmp_path):
    result = CliRunner().invoke(app, ["sim", "fit", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown source" in result.output


def test_synthetic_recovery_report(tmp_path):
    f = fit_synthetic(tmp_path, seed=1, n_shoppers=120, n_weeks=40, click_rounds=6000)
    assert f["choice"]["control_function"]["coverage"] > f["choice"]["naive"]["coverage"]
    assert not f["choice"]["naive"]["coefficients"]["beta_price"]["covered"]
    assert all(f["click"]["covered"])
    err = f["click_weighting"]["error"]                    # uniform-policy CTR of a misspecified click model
    assert max(abs(err["ipw"]), abs(err["dr"])) < abs(err["none"]) / 2, err
    ClickParams.from_fit_dir(tmp_path)
    DemandParams.from_fit_dir(tmp_path)
    assert (tmp_path / "synthetic_recovery.png").is_file()


def test_cli_sim_fit_obd_with_the_torch_click_solver(tmp_path):
    """`--click-solver torch` fits OBD men to the dense solver's fidelity numbers; a bad solver is a usage error."""
    from envs.fit import fit_obd

    dense = fit_obd(tmp_path / "fisher", campaign="men", click_kwargs={"solver": "fisher"})
    result = CliRunner().invoke(app, ["sim", "fit", "obd", "--campaign", "men", "--out", str(tmp_path / "torch"),
                                      "--click-solver", "torch", "--click-device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    f = json.loads((tmp_path / "torch" / "fidelity.json").read_text())
    assert (f["click_model"]["solver"], f["click_model"]["device"]) == ("torch", "cpu")
    assert dense["click_model"]["solver"] == "fisher" and f["penalties"] == dense["penalties"]
    assert abs(f["simulated_ctr"] - dense["simulated_ctr"]) < 1e-6 and abs(f["logloss"] - dense["logloss"]) < 1e-8
    bad = CliRunner().invoke(app, ["sim", "fit", "obd", "--out", str(tmp_path / "bad"), "--click-solver", "newton"])
    assert bad.exit_code == 2 and "solver" in bad.output
