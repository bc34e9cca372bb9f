"""`retailrl dashboard`: the streamlit command line, argument errors, and a real start on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from typer.testing import CliRunner

from retailrl.cli.dashboard import APP, streamlit_command
from retailrl.cli.main import app

ROOT = Path(__file__).resolve().parents[2]


def test_streamlit_command_binds_loopback_only():
    cmd = streamlit_command(8765)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4] == str(APP) and APP.exists()
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8765"
    assert cmd[cmd.index("--browser.gatherUsageStats") + 1] == "false"


def test_bad_arguments_exit_with_2():
    runner = CliRunner()
    result = runner.invoke(app, ["dashboard", "--port", "0"])
    assert result.exit_code == 2 and "--port" in result.output
    result = runner.invoke(app, ["dashboard", "--port", "8765", "--idle-minutes", "0"])
    assert result.exit_code == 2 and "--idle-minutes" in result.output


def test_dashboard_serves_on_loopback(empty_db, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "retailrl.cli.main", "dashboard", "--port", str(port), "--db",
                             empty_db], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        body = None
        deadline = time.monotonic() + 90
        while body is None and proc.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    body = r.read()
            except OSError:
                time.sleep(0.3)
        assert body == b"ok", proc.stdout.read().decode() if proc.poll() is not None else "no answer"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}" in out.decode()
