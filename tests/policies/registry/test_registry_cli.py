"""`retailrl registry ...` end to end, on SQLite and PostgreSQL (the typer app, in-process)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from policies.registry import Registry
from policies.registry.security import make_hasher
from retailrl.cli.registry import app

runner = CliRunner()


def _run(db_url, *args, user=None, password=None, ok=True):
    env = {"RETAILRL_PASSWORD": password} if password else {}
    argv = [*args, "--db", db_url] + (["--user", user] if user else [])
    result = runner.invoke(app, argv, env=env)
    if ok:
        assert result.exit_code == 0, (argv, result.output)
    return result


@pytest.fixture
def cli_db(db_url, tmp_path):
    _run(db_url, "upgrade")
    # Users made with cheap argon2 parameters (every CLI login verifies with the parameters stored in the hash);
    # the `users add` command itself is exercised in test_users_and_tokens_commands.
    registry = Registry(db_url, hasher=make_hasher(fast=True))
    root = registry.create_user(None, "root", "root-pass-1", "admin")
    registry.create_user(root, "alice", "alice-pass-1", "requester")
    registry.create_user(root, "bob", "bob-pass-1", "approver")
    registry.close()
    _run(db_url, "add-decision-point", "banner", "--kind", "ad_slot", "--action-space", '{"n_actions": 3}',
         "--baseline-action", "0", "--guardrail-min-count", "10", user="root", password="root-pass-1")
    return db_url


def test_commands_refuse_an_unmigrated_database(db_url):
    result = _run(db_url, "list", ok=False)
    assert result.exit_code == 2
    assert "run `retailrl registry upgrade`" in result.output


def test_full_workflow_through_the_cli(cli_db, tmp_path):
    artefact = tmp_path / "artefact"
    artefact.mkdir()
    (artefact / "model.zip").write_bytes(b"weights")
    (tmp_path / "config.json").write_text(json.dumps({"algo": "ppo", "seed": 1}))
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"ope": [{"name": "dr", "estimate": 0.1, "ci": [0.08, 0.12], "lower_bound": 0.08,
                                           "diagnostics": {}}], "simulator": {"mean_reward": 0.11}}))
    alice, bob = {"user": "alice", "password": "alice-pass-1"}, {"user": "bob", "password": "bob-pass-1"}
    out = _run(cli_db, "register", "ppo", str(artefact), "-d", "banner", "--config", str(tmp_path / "config.json"),
               "--json", **alice).stdout
    registered = json.loads(out)
    assert (registered["ref"], registered["state"], registered["train_config"]) == ("ppo:1", "candidate",
                                                                                   {"algo": "ppo", "seed": 1})
    from policies.registry import artefact_sha256

    assert registered["artefact_sha256"] == artefact_sha256(artefact)
    _run(cli_db, "attach-report", "ppo:1", str(report), **alice)
    _run(cli_db, "request-approval", "ppo:1", "-m", "please", **alice)
    denied = _run(cli_db, "approve", "ppo:1", ok=False, **alice)
    assert denied.exit_code == 2 and "'approve' needs one of ['approver']" in denied.output
    wrong = _run(cli_db, "approve", "ppo:1", ok=False, user="bob", password="not-his-password")
    assert wrong.exit_code == 2 and "authentication failed" in wrong.output
    _run(cli_db, "approve", "ppo:1", "-m", "ok", **bob)
    assert "canary on 10%" in _run(cli_db, "rollout", "ppo:1", "--traffic", "10", **bob).output
    assert "canary on 20%" in _run(cli_db, "rollout", "ppo:1", "--traffic", "20", **bob).output
    _run(cli_db, "promote", "ppo:1", **bob)
    listing = json.loads(_run(cli_db, "list", "--json").stdout)
    assert [(v["ref"], v["state"]) for v in listing["versions"]] == [("ppo:1", "live")]
    assert listing["traffic"][0]["arms"] == [["champion", "ppo:1", 100.0]]
    shown = json.loads(_run(cli_db, "show", "ppo:1", "--json").stdout)
    assert shown["approvals"][0]["decided_by"] == "bob" and shown["reports"][0]["report"]["simulator"]
    killed = _run(cli_db, "kill", "banner", "-m", "incident", **bob)
    assert "KILLED, 100% baseline" in killed.output
    _run(cli_db, "kill", "banner", "--off", **bob)
    rolled = _run(cli_db, "rollback", "banner", "-m", "bad", **bob)
    assert "ppo:1 rolled back" in rolled.output and "baseline" in rolled.output
    audit = json.loads(_run(cli_db, "audit", "--entity", "ppo:*", "--json").stdout)
    assert [(a["actor"], a["action"]) for a in audit] == [
        ("alice", "register"), ("alice", "evaluate"), ("alice", "request_approval"), ("bob", "approve"),
        ("bob", "start_canary"), ("bob", "set_traffic"), ("bob", "promote"), ("bob", "rollback")]
    table = _run(cli_db, "audit").output
    assert "audit log" in table and "rollback" in table
    assert "ppo:1" in _run(cli_db, "list").output
    assert "rollouts" in _run(cli_db, "show", "banner").output
    assert "evaluation reports" in _run(cli_db, "show", "ppo:1").output


def test_users_and_tokens_commands(cli_db):
    root = {"user": "root", "password": "root-pass-1"}
    created = json.loads(_run(cli_db, "tokens", "create", "bob", "--name", "decision-api", "--json", **root).stdout)
    assert created["token"].startswith("rrl_")
    listed = json.loads(_run(cli_db, "tokens", "list", "--json").stdout)
    assert [t["prefix"] for t in listed] == [created["token"][:12]] and "token" not in listed[0]
    _run(cli_db, "tokens", "revoke", str(created["id"]), **root)
    _run(cli_db, "users", "set-role", "alice", "viewer", **root)
    _run(cli_db, "users", "add", "dave", "--role", "approver", "--new-password", "dave-pass-1", **root)
    users = {u["username"]: u["role"] for u in json.loads(_run(cli_db, "users", "list", "--json").stdout)}
    assert users == {"alice": "viewer", "bob": "approver", "dave": "approver", "root": "admin"}
    assert "(approver) created" not in _run(cli_db, "users", "add", "eve", "--role", "viewer", "--new-password",
                                            "eve-pass-12", ok=False, user="dave", password="dave-pass-1").output
    missing = _run(cli_db, "users", "deactivate", "bob", ok=False)
    assert missing.exit_code == 2 and "give --user NAME" in missing.output


def test_first_admin_is_created_through_the_cli(db_url):
    _run(db_url, "upgrade")
    created = _run(db_url, "users", "add", "root", "--role", "admin", "--new-password", "root-pass-1")
    assert "user root (admin) created" in created.output
    again = _run(db_url, "users", "add", "eve", "--role", "admin", "--new-password", "eve-pass-12", ok=False)
    assert again.exit_code == 2 and "give --user NAME" in again.output
