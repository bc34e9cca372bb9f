"""Every command of the README's tour and of docs/own-data.md, run as written through the installed
``.venv/bin/retailrl`` from a temporary directory, in the order the documents give them.

The commands are read from the documents themselves, so a command added there without a plan here fails
:func:`test_every_documented_command_has_a_plan`. Each plan is one of:

- ``run``: run it; it must exit 0 (after ``extra`` arguments that only shrink budgets, e.g. ``--size tiny``);
- ``serves``: a server; it must answer its health URL, then it is stopped;
- ``refused``: it needs what this machine lacks (a GPU, the full Open Bandit Dataset); it must exit non-zero
  with a message naming what is missing.

Files a user would bring (``my_log.csv``, ``policy.npy``) are written before the tour starts; the shop's files
come from the documented ``retailrl data example-shop``. The registry lives under ``RETAILRL_HOME`` in the
temporary directory; fetched data comes from the shared cache.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / ".venv" / "bin" / "retailrl"
DOCS = {"README.md": "## A short tour of the CLI", "docs/own-data.md": None}


@dataclass(frozen=True)
class Plan:
    how: str = "run"
    extra: tuple[str, ...] = ()
    expect: str = ""  # ``refused``: the message must contain this; ``run``: the output must
    health: str = ""  # ``serves``: the health path


def _has_cuda() -> bool:
    return shutil.which("nvidia-smi") is not None


PLANS: dict[str, Plan] = {
    "retailrl data fetch obd": Plan(),
    "retailrl data describe obd --policy random --campaign all --json": Plan(expect='"rows"'),
    "retailrl data describe cracker": Plan(),
    "retailrl data export obd --policy bts --campaign men --out bts_men.csv": Plan(),
    "retailrl data validate my_log.csv --kind bandit --mapping my_mapping.toml": Plan(expect="valid"),
    "retailrl data schema choice": Plan(expect="occasion_id"),
    "retailrl sim fit obd --campaign all --train-policy random --out runs/sim_obd": Plan(),
    "retailrl sim fit obd --path /data/open_bandit_dataset --click-solver torch --out runs/sim_obd_full":
        Plan("run") if Path("/data/open_bandit_dataset").is_dir() else Plan("refused", expect="/data/open_bandit_dataset"),
    "retailrl sim fit shop/baskets.csv --kind choice --mapping shop/baskets.toml --instruments cost_idx --out fits/choice":
        Plan(),
    "retailrl loop shop/shop.toml --out loop": Plan(extra=("--size", "tiny")),
    "retailrl train --config configs/pricing_ppo.toml": Plan(extra=("--steps", "512", "--no-progress")),
    "retailrl train --config configs/pricing_ppo_gpu.toml":
        Plan(extra=("--steps", "4096", "--no-progress")) if _has_cuda() else Plan("refused", expect="cuda"),
    "retailrl ope run --logs obd:random/all --action-dist policy.npy --estimators ipw,snipw,dm,dr --json":
        Plan(expect='"estimate"'),
    "retailrl bench policies --json": Plan(extra=("--quick", "--only", "inventory_lostsales_vi")),
    "retailrl registry list": Plan(expect="vw-squarecb"),
    "RETAILRL_PASSWORD=demo-password retailrl registry approve vw-squarecb:1 --user demo-approver":
        Plan(expect="approved"),
    "retailrl serve --host 127.0.0.1 --port 8000 --workers 1": Plan("serves", health="/healthz"),
    "retailrl dashboard --port 8501": Plan("serves", health="/_stcore/health"),
    "retailrl bench env --json": Plan(extra=("--num-envs", "16", "--steps", "5", "--single-steps", "100")),
    # docs/own-data.md
    "retailrl data example-shop --out shop": Plan(),
    "retailrl data validate shop/banners.parquet --kind bandit --mapping shop/banners.toml": Plan(expect="valid"),
    "retailrl sim fit shop/banners.parquet --kind bandit --mapping shop/banners.toml --out fits/bandit": Plan(),
    "retailrl sim fit shop/stock.csv --kind stock --mapping shop/stock.toml --out fits/stock": Plan(),
    "retailrl loop shop/shop.toml --out loop --size tiny": Plan(),
    "retailrl registry list --decision-point shop-banner": Plan(expect="vw-squarecb"),
}
# Ports of the servers are replaced by free ones (CI may run other servers on 8000/8501).
PORT = re.compile(r"--port \d+")


ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def _split(command: str) -> tuple[dict[str, str], list[str]]:
    """A command line's leading ``NAME=value`` assignments (as a shell applies them) and its argv."""
    words = shlex.split(command)
    env = {}
    while words and ASSIGNMENT.match(words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    return env, words


def documented_commands() -> list[str]:
    """The ``retailrl`` commands of each document's bash blocks (the README's tour only), comments stripped."""
    commands: list[str] = []
    for doc, section in DOCS.items():
        text = (ROOT / doc).read_text()
        if section is not None:
            text = text.split(section, 1)[1].split("\n## ", 1)[0]
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #", 1)[0].strip()
                if _split(line)[1][:1] == ["retailrl"] and line not in commands:
                    commands.append(line)
    return commands


COMMANDS = documented_commands()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(work: Path) -> dict[str, str]:
    env = {**os.environ, "RETAILRL_HOME": str(work / "home"), "COLUMNS": "200"}
    for name in ("DATABASE_URL", "RETAILRL_USER", "RETAILRL_PASSWORD"):
        env.pop(name, None)
    return env




def _argv(command: str, plan: Plan) -> list[str]:
    if plan.how == "serves":
        command = PORT.sub(f"--port {_free_port()}", command)
    argv = _split(command)[1]
    return [str(CLI) if CLI.exists() else sys.executable, *([] if CLI.exists() else ["-m", "retailrl.cli.main"]),
            *argv[1:], *plan.extra]


def _serve(argv: list[str], work: Path, health: str) -> tuple[int, str]:
    port = argv[argv.index("--port") + 1]
    log = work / f"server-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(argv, cwd=work, env=_env(work), stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{health}", timeout=2) as r:
                        if r.status == 200:
                            return 0, log.read_text()
                except OSError:
                    time.sleep(0.3)
            return proc.poll() or 1, log.read_text()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _prepare(work: Path) -> None:
    """What a user brings to the README's tour: a bandit log of their own with its mapping, a policy file."""
    from sim_data.synthetic.example_shop_world import write_shop

    own = work / "own"
    write_shop(own, "tiny", seed=3)
    import pandas as pd

    pd.read_parquet(own / "banners.parquet").to_csv(work / "my_log.csv", index=False)
    shutil.copy(own / "banners.toml", work / "my_mapping.toml")
    np.save(work / "policy.npy", np.full((80, 3), 1.0 / 80))  # OBD 'all': 80 items, 3 slots


@pytest.fixture(scope="module")
def tour(tmp_path_factory) -> dict[str, tuple[int, str]]:
    """Every documented command's exit status and output, run in document order in one directory."""
    work = tmp_path_factory.mktemp("docs_tour")
    _prepare(work)
    order = sorted(COMMANDS, key=lambda c: (not c.startswith("retailrl data example-shop"),
                                            "registry approve" in c))
    results: dict[str, tuple[int, str]] = {}
    ran: dict[tuple, str] = {}
    times: dict[str, float] = {}  # the same argv (after its budget arguments) runs once
    for command in order:
        plan = PLANS.get(command)
        if plan is None:
            continue
        argv = _argv(command, plan)
        key = (*sorted(_split(command)[0].items()), *argv)
        if key in ran:
            results[command] = results[ran[key]]
            continue
        ran[key] = command
        started = time.monotonic()
        if plan.how == "serves":
            results[command] = _serve(argv, work, plan.health)
            times[command] = time.monotonic() - started
            continue
        done = subprocess.run(argv, cwd=work, env={**_env(work), **_split(command)[0]}, capture_output=True,
                              text=True, timeout=900)
        results[command] = (done.returncode, done.stdout + done.stderr)
        times[command] = time.monotonic() - started
    (work / "times.json").write_text(json.dumps(times, indent=2))  # where the tour's time goes
    return results


def test_every_documented_command_has_a_plan():
    assert len(COMMANDS) >= 20
    assert [c for c in COMMANDS if c not in PLANS] == []
    assert [c for c in PLANS if c not in COMMANDS] == []  # a plan for a command the documents dropped


@pytest.mark.parametrize("command", COMMANDS)
def test_documented_command_works_as_written(tour, command):
    plan = PLANS[command]
    rc, output = tour[command]
    if plan.how == "refused":
        assert rc != 0 and plan.expect in output and "Traceback" not in output, output[-3000:]
        return
    assert rc == 0, output[-4000:]
    assert plan.expect in output, output[-3000:]
