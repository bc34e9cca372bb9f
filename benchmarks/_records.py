"""What every decision-quality record shares: the seeds, the record layout, progress logging."""

from __future__ import annotations

import sys
from typing import Any

EVAL_SEED = 1_000_003
TRAIN_SEED = 7


def log(message: str) -> None:
    print(f"[bench_policies] {message}", file=sys.stderr, flush=True)


def record(name: str, result: dict[str, Any], target: float | None, met: bool | None, **params: Any) -> dict:
    return {"name": name, "value": result["value"], "oracle": result["oracle"], "ratio": result["ratio"],
            "ci": result["ci"], "target": target, "met": met, "n_eval_seeds": result.get("n_seeds"), **params}


def strip_values(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "values"}
