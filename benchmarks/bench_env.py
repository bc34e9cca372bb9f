"""Simulator speed: random-action stepping of each native vector env beside gymnasium's CartPoleVectorEnv.

Run ``python -m benchmarks.bench_env [--quick]`` (or ``retailrl bench env --json``); the timing code is
:mod:`envs.speed`. Prints JSON: per environment id the vector steps/s at num_envs=4096, the ratio to
CartPoleVectorEnv timed in the same run, and single-env steps/s.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from envs.speed import run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Print the results as JSON (``--quick`` for a short run) and return them."""
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    results = run(vector_steps=50 if quick else 200, single_steps=3000 if quick else 20_000)
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
