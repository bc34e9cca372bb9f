"""Run every benchmark module (``benchmarks/bench_*.py`` with a ``main()``) in turn; `make bench` calls this."""

from __future__ import annotations

import importlib
import platform
import sys
import time
from pathlib import Path

from rich.console import Console

console = Console()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks named in ``argv`` (module names without ``bench_``), or all of them."""
    names = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    wanted = argv if argv else [n.removeprefix("bench_") for n in names]
    console.print(f"machine: {platform.platform()}, python {platform.python_version()}, {platform.processor() or 'cpu'}")
    failed = []
    for name in wanted:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        console.rule(f"[bold]bench_{name}")
        start = time.perf_counter()
        try:
            module.main([])
        except Exception as exc:  # report and go on: one broken benchmark must not hide the others
            console.print(f"[red]bench_{name} failed: {exc!r}")
            failed.append(name)
        console.print(f"bench_{name}: {time.perf_counter() - start:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
