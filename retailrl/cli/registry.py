"""`retailrl registry`: policy versions, evaluation reports, approvals, rollouts, users and the audit log.

The database is ``--db URL``, else ``DATABASE_URL``, else ``registry.db`` in the data directory. Run
``retailrl registry upgrade`` once (and after every update): the other commands refuse an un-migrated database.
Commands that change something act as ``--user NAME`` (or ``RETAILRL_USER``) with the password from
``--password`` or, better (it stays out of the shell history and the process list), ``RETAILRL_PASSWORD``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from retailrl.cli._common import console, print_json, user_errors

app = typer.Typer(no_args_is_help=True, help="Policy registry: versions, approvals, rollouts, audit log.")
users_app = typer.Typer(no_args_is_help=True, help="Manage users and roles (admins only; the first admin bootstraps).")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens for the decision API (only a hash is stored).")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

Db = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL (default: DATABASE_URL, else registry.db).")]
UserOpt = Annotated[str | None, typer.Option("--user", envvar="RETAILRL_USER", help="Acting user.")]
PasswordOpt = Annotated[str | None, typer.Option("--password", envvar="RETAILRL_PASSWORD",
                                                 help="Acting user's password (prefer RETAILRL_PASSWORD).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of a table.")]
Comment = Annotated[str | None, typer.Option("--comment", "-m", help="Why (kept in the audit log).")]


def _open(db: str | None):
    from policies.registry import Registry

    return Registry(db)


def _login(registry, user: str | None, password: str | None):
    if not user:
        raise ValueError("this command changes the registry: give --user NAME (or set RETAILRL_USER)")
    if password is None:
        raise ValueError("give the password of --user with --password or the RETAILRL_PASSWORD variable")
    return registry.authenticate(user, password)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{what}: no such file: {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: {path} is not valid JSON ({exc})") from None


def _jsonable(record: Any) -> Any:
    if isinstance(record, list):
        return [_jsonable(r) for r in record]
    return asdict(record) if hasattr(record, "__dataclass_fields__") else record


def _when(value) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _done(message: str) -> None:
    console.print(message, highlight=False)


@app.command("upgrade")
def upgrade_cmd(db: Db = None, revision: Annotated[str, typer.Option(help="Target revision.")] = "head") -> None:
    """Create or migrate the registry's tables (Alembic) to the newest revision."""
    with user_errors():
        from policies.registry import upgrade
        from policies.registry.config import database_url, redact

        url = database_url(db)
        at = upgrade(url, revision)
        _done(f"registry database {redact(url)} is at revision {at}")


@users_app.command("add")
def users_add(username: str, role: Annotated[str, typer.Option(help="viewer, requester, approver or admin.")],
              new_password: Annotated[str | None, typer.Option("--new-password", envvar="RETAILRL_NEW_PASSWORD",
                                                               help="The new user's password.")] = None,
              db: Db = None, user: UserOpt = None, password: PasswordOpt = None) -> None:
    """Add a user. With no users yet, the first admin is created without --user."""
    with user_errors():
        registry = _open(db)
        if new_password is None:
            raise ValueError("give the new user's password with --new-password or RETAILRL_NEW_PASSWORD")
        actor = None if not registry.list_users() else _login(registry, user, password)
        record = registry.create_user(actor, username, new_password, role)
        _done(f"user {record.username} ({record.role}) created")


@users_app.command("list")
def users_list(db: Db = None, as_json: JsonOpt = False) -> None:
    """List users and their roles."""
    with user_errors():
        users = _open(db).list_users()
        if as_json:
            return print_json(_jsonable(users))
        table = Table("user", "role", "active", "created", title="users")
        for u in users:
            table.add_row(u.username, u.role, "yes" if u.active else "no", _when(u.created_at))
        console.print(table)


@users_app.command("set-role")
def users_set_role(username: str, role: str, db: Db = None, user: UserOpt = None,
                   password: PasswordOpt = None) -> None:
    """Change a user's role."""
    with user_errors():
        registry = _open(db)
        record = registry.set_role(_login(registry, user, password), username, role)
        _done(f"user {record.username} is now {record.role}")


@users_app.command("deactivate")
def users_deactivate(username: str, db: Db = None, user: UserOpt = None, password: PasswordOpt = None) -> None:
    """Deactivate a user (they can no longer log in or act)."""
    with user_errors():
        registry = _open(db)
        registry.set_active(_login(registry, user, password), username, False)
        _done(f"user {username} deactivated")


@users_app.command("activate")
def users_activate(username: str, db: Db = None, user: UserOpt = None, password: PasswordOpt = None) -> None:
    """Re-activate a user."""
    with user_errors():
        registry = _open(db)
        registry.set_active(_login(registry, user, password), username, True)
        _done(f"user {username} activated")


@users_app.command("passwd")
def users_passwd(username: str,
                 new_password: Annotated[str, typer.Option("--new-password", envvar="RETAILRL_NEW_PASSWORD")],
                 db: Db = None, user: UserOpt = None, password: PasswordOpt = None) -> None:
    """Change a password (your own, or anyone's as an admin)."""
    with user_errors():
        registry = _open(db)
        registry.set_password(_login(registry, user, password), username, new_password)
        _done(f"password of {username} changed")


@tokens_app.command("create")
def tokens_create(username: str, name: Annotated[str, typer.Option(help="A label, e.g. 'decision-api'.")],
                  db: Db = None, user: UserOpt = None, password: PasswordOpt = None, as_json: JsonOpt = False) -> None:
    """Create an API token for USERNAME; it is printed once and stored only as a hash."""
    with user_errors():
        registry = _open(db)
        record, token = registry.create_token(_login(registry, user, password), username, name)
        if as_json:
            return print_json({**_jsonable(record), "token": token})
        _done(f"token {record.id} for {username} ({record.name}); store it now, it is not shown again:")
        typer.echo(token)


@tokens_app.command("list")
def tokens_list(username: Annotated[str | None, typer.Argument()] = None, db: Db = None,
                as_json: JsonOpt = False) -> None:
    """List API tokens (their ids, labels and prefixes; never the tokens)."""
    with user_errors():
        tokens = _open(db).list_tokens(username)
        if as_json:
            return print_json(_jsonable(tokens))
        table = Table("id", "user", "name", "prefix", "created", "revoked", title="API tokens")
        for t in tokens:
            table.add_row(str(t.id), t.username, t.name, t.prefix, _when(t.created_at), _when(t.revoked_at))
        console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: int, db: Db = None, user: UserOpt = None, password: PasswordOpt = None) -> None:
    """Revoke an API token by id."""
    with user_errors():
        registry = _open(db)
        registry.revoke_token(_login(registry, user, password), token_id)
        _done(f"token {token_id} revoked")


@app.command("add-decision-point")
def add_decision_point(
    name: str,
    kind: Annotated[str, typer.Option(help="ad_slot, pricing or inventory.")],
    action_space: Annotated[str, typer.Option(help='JSON, e.g. \'{"n_actions": 80}\'.')],
    baseline_action: Annotated[str, typer.Option(help="JSON: the action served when killed / with no champion.")],
    reward_window: Annotated[float, typer.Option(help="Seconds a reward may arrive after the decision.")] = 86400.0,
    default_reward: Annotated[float, typer.Option(help="Reward when none arrives within the window.")] = 0.0,
    estimator: Annotated[str | None, typer.Option(help="OPE estimator the approval rule compares (default dr).")] = None,
    rule: Annotated[str, typer.Option(help="lower_bound_beats_estimate, mean_and_lower_bound or evaluation_only.")]
    = "lower_bound_beats_estimate",
    guardrail_bound: Annotated[float, typer.Option(help="Reward units a canary may fall below the champion.")] = 0.0,
    guardrail_confidence: Annotated[float, typer.Option(help="Confidence of the canary's upper bound.")] = 0.95,
    guardrail_min_count: Annotated[int, typer.Option(help="Rewards per arm before the guardrail decides.")] = 100,
    db: Db = None, user: UserOpt = None, password: PasswordOpt = None,
) -> None:
    """Create a decision point (admins)."""
    with user_errors():
        registry = _open(db)
        spaces = {}
        for what, text in (("--action-space", action_space), ("--baseline-action", baseline_action)):
            try:
                spaces[what] = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError(f"{what}: expected JSON, found {text!r}") from None
        record = registry.add_decision_point(
            _login(registry, user, password), name, kind, spaces["--action-space"], spaces["--baseline-action"],
            reward_window_s=reward_window, default_reward=default_reward, approval_estimator=estimator,
            approval_rule=rule, guardrail_bound=guardrail_bound, guardrail_confidence=guardrail_confidence,
            guardrail_min_count=guardrail_min_count)
        _done(f"decision point {record.name} ({record.kind}) created")


@app.command("register")
def register(
    policy: str,
    artefact: Annotated[Path, typer.Argument(help="The artefact file or directory (its SHA-256 is recorded).")],
    decision_point: Annotated[str, typer.Option("--decision-point", "-d")],
    config: Annotated[Path | None, typer.Option(help="Training config (JSON file).")] = None,
    metrics: Annotated[Path | None, typer.Option(help="Training metrics (JSON file).")] = None,
    uri: Annotated[str | None, typer.Option(help="Artefact URI to record (default: file:// of ARTEFACT).")] = None,
    db: Db = None, user: UserOpt = None, password: PasswordOpt = None, as_json: JsonOpt = False,
) -> None:
    """Register a new candidate version of POLICY from an artefact directory."""
    with user_errors():
        from policies.registry import artefact_sha256

        registry = _open(db)
        actor = _login(registry, user, password)
        digest = artefact_sha256(artefact)
        record = registry.register_version(
            actor, decision_point, policy, uri or Path(artefact).resolve().as_uri(), digest,
            train_config=_read_json(config, "--config") if config else None,
            train_metrics=_read_json(metrics, "--metrics") if metrics else None)
        if as_json:
            return print_json(_jsonable(record))
        _done(f"registered {record.ref} ({record.state}), sha256 {digest[:12]}...")


def _attach(version: str, report: Path, markdown: Path | None, uri: list[str] | None, db, user, password,
            as_json: bool) -> None:
    with user_errors():
        registry = _open(db)
        actor = _login(registry, user, password)
        text = Path(markdown).read_text() if markdown else None
        record = registry.attach_report(actor, version, _read_json(report, "REPORT"), markdown=text, uris=uri or [])
        if as_json:
            return print_json(_jsonable(record))
        _done(f"report #{record.id} attached to {record.version_ref} (against {record.against_ref or 'no champion'})")


ReportArg = Annotated[Path, typer.Argument(help="Evaluation report (JSON: OPE estimates and/or simulator).")]
MarkdownOpt = Annotated[Path | None, typer.Option(help="A markdown write-up to keep with it.")]
UriOpt = Annotated[list[str] | None, typer.Option("--uri", help="Link to plots/results (repeatable).")]


@app.command("attach-report")
def attach_report(version: str, report: ReportArg, markdown: MarkdownOpt = None, uri: UriOpt = None,
                  db: Db = None, user: UserOpt = None, password: PasswordOpt = None, as_json: JsonOpt = False) -> None:
    """Attach an evaluation report to VERSION (policy:number); a candidate becomes evaluated."""
    _attach(version, report, markdown, uri, db, user, password, as_json)


@app.command("evaluate")
def evaluate(version: str, report: ReportArg, markdown: MarkdownOpt = None, uri: UriOpt = None,
             db: Db = None, user: UserOpt = None, password: PasswordOpt = None, as_json: JsonOpt = False) -> None:
    """Same as attach-report: record VERSION's evaluation against the current champion."""
    _attach(version, report, markdown, uri, db, user, password, as_json)


@app.command("attach-baseline")
def attach_baseline(decision_point: str, report: ReportArg, markdown: MarkdownOpt = None, db: Db = None,
                    user: UserOpt = None, password: PasswordOpt = None) -> None:
    """Attach an evaluation of the decision point's baseline action (the reference while there is no champion)."""
    with user_errors():
        registry = _open(db)
        record = registry.attach_baseline_report(_login(registry, user, password), decision_point,
                                                 _read_json(report, "REPORT"),
                                                 markdown=Path(markdown).read_text() if markdown else None)
        _done(f"baseline report #{record.id} attached to {decision_point}")


def _act(method: str, target: str, db, user, password, *args, **kwargs):
    with user_errors():
        registry = _open(db)
        return getattr(registry, method)(_login(registry, user, password), target, *args, **kwargs)


@app.command("request-approval")
def request_approval(version: str, comment: Comment = None, db: Db = None, user: UserOpt = None,
                     password: PasswordOpt = None) -> None:
    """Ask for VERSION's approval (it must be evaluated)."""
    record = _act("request_approval", version, db, user, password, comment)
    _done(f"approval of {record.version_ref} requested by {record.requested_by} (request #{record.id})")


@app.command("approve")
def approve(version: str, comment: Comment = None, db: Db = None, user: UserOpt = None,
            password: PasswordOpt = None) -> None:
    """Approve VERSION (approver role; not the requester; evidence against the champion)."""
    record = _act("approve", version, db, user, password, comment)
    _done(f"{record.ref} is {record.state}")


@app.command("reject")
def reject(version: str, comment: Comment = None, db: Db = None, user: UserOpt = None,
           password: PasswordOpt = None) -> None:
    """Reject VERSION."""
    record = _act("reject", version, db, user, password, comment)
    _done(f"{record.ref} is {record.state}")


@app.command("rollout")
def rollout(version: str, traffic: Annotated[float, typer.Option(help="Percent of traffic for the canary.")] = 10.0,
            db: Db = None, user: UserOpt = None, password: PasswordOpt = None) -> None:
    """Start an approved VERSION as a canary on --traffic percent (or change a running canary's traffic)."""
    with user_errors():
        registry = _open(db)
        actor = _login(registry, user, password)
        current = registry.get_version(version)
        method = registry.set_traffic if current.state == "canary" else registry.start_canary
        record = method(actor, version, traffic)
        _done(f"{record.challenger_ref} is a canary on {record.traffic_percent:g}% of {record.decision_point} "
              f"(the rest: {record.champion_ref or 'baseline'})")


@app.command("promote")
def promote(version: str, comment: Comment = None, db: Db = None, user: UserOpt = None,
            password: PasswordOpt = None) -> None:
    """Make the canary VERSION live on 100% of its decision point."""
    record = _act("promote", version, db, user, password, comment)
    _done(f"{record.ref} is {record.state}")


@app.command("rollback")
def rollback(decision_point: str, reason: Annotated[str | None, typer.Option("--reason", "-m")] = None,
             db: Db = None, user: UserOpt = None, password: PasswordOpt = None) -> None:
    """Roll back DECISION_POINT's canary, else its live version (the last good version goes live)."""
    record = _act("rollback", decision_point, db, user, password, reason)
    with user_errors():
        split = _open(db).traffic(decision_point)
    _done(f"{record.ref} rolled back; traffic now: " + ", ".join(f"{arm} {ref or ''} {pct:g}%".replace("  ", " ")
                                                                  for arm, ref, pct in split.arms))


@app.command("kill")
def kill(decision_point: str, reason: Annotated[str | None, typer.Option("--reason", "-m")] = None,
         off: Annotated[bool, typer.Option("--off", help="Turn the kill switch off again.")] = False,
         db: Db = None, user: UserOpt = None, password: PasswordOpt = None) -> None:
    """Kill switch: send 100% of DECISION_POINT to its baseline action (--off to resume)."""
    record = _act("revive" if off else "kill", decision_point, db, user, password, reason)
    _done(f"{record.name}: " + ("KILLED, 100% baseline" if record.killed else "serving again"))


@app.command("check-canary")
def check_canary(decision_point: str, db: Db = None, as_json: JsonOpt = False) -> None:
    """Run the guardrail on DECISION_POINT's canary from the decision/reward logs (rolls back when below bound)."""
    with user_errors():
        result = _open(db).check_canary(decision_point)
        if as_json:
            return print_json(_jsonable(result))
        _done(f"{result.verdict}: {result.reason}")


@app.command("list")
def list_cmd(decision_point: Annotated[str | None, typer.Option("--decision-point", "-d")] = None,
             state: Annotated[str | None, typer.Option(help="Only versions in this state.")] = None,
             db: Db = None, as_json: JsonOpt = False) -> None:
    """List policy versions (and the decision points' traffic)."""
    with user_errors():
        registry = _open(db)
        versions = registry.list_versions(decision_point, state)
        points = [p for p in registry.list_decision_points() if decision_point in (None, p.name)]
        splits = [registry.traffic(p.name) for p in points]
        if as_json:
            return print_json({"versions": _jsonable(versions), "traffic": _jsonable(splits)})
        table = Table("version", "decision point", "state", "created by", "updated", "sha256", title="policy versions")
        for v in versions:
            table.add_row(v.ref, v.decision_point, v.state, v.created_by, _when(v.updated_at), v.artefact_sha256[:12])
        console.print(table)
        traffic = Table("decision point", "killed", "traffic", title="traffic")
        for s in splits:
            traffic.add_row(s.decision_point, "KILLED" if s.killed else "",
                            ", ".join(f"{arm} {ref or ''} {pct:g}%" for arm, ref, pct in s.arms))
        console.print(traffic)


@app.command("show")
def show(target: Annotated[str, typer.Argument(help="A version (policy:number) or a decision point name.")],
         db: Db = None, as_json: JsonOpt = False) -> None:
    """Show a version (evidence, approvals) or a decision point (config, traffic, rollouts)."""
    with user_errors():
        registry = _open(db)
        if ":" in target or "@" in target or target.isdigit():
            version = registry.get_version(target)
            reports, approvals = registry.reports(version.ref), registry.approvals(version.ref)
            if as_json:
                return print_json({"version": _jsonable(version), "reports": _jsonable(reports),
                                   "approvals": _jsonable(approvals)})
            table = Table("field", "value", title=f"policy version {version.ref}")
            for key, value in asdict(version).items():
                table.add_row(key, json.dumps(value, default=str) if isinstance(value, dict | list) else str(value))
            console.print(table)
            rep = Table("report", "against", "by", "when", "estimates", title="evaluation reports")
            from policies.registry.reports import parse_estimates

            for r in reports:
                est = ", ".join(f"{e.name} {e.estimate:.4g} (lb {e.lower_bound:.4g})"
                                for e in parse_estimates(r.report).values())
                rep.add_row(f"#{r.id}", r.against_ref or "no champion", r.created_by, _when(r.created_at), est)
            console.print(rep)
            app_table = Table("request", "by", "status", "decided by", "comment", title="approvals")
            for a in approvals:
                app_table.add_row(f"#{a.id}", a.requested_by, a.status, a.decided_by or "",
                                  a.decision_comment or a.request_comment or "")
            console.print(app_table)
            return None
        point = registry.get_decision_point(target)
        split, rollouts = registry.traffic(target), registry.rollouts(target)
        if as_json:
            return print_json({"decision_point": _jsonable(point), "traffic": _jsonable(split),
                               "rollouts": _jsonable(rollouts)})
        table = Table("field", "value", title=f"decision point {point.name}")
        for key, value in asdict(point).items():
            table.add_row(key, json.dumps(value, default=str) if isinstance(value, dict | list) else str(value))
        table.add_row("traffic", ", ".join(f"{arm} {ref or ''} {pct:g}%" for arm, ref, pct in split.arms))
        console.print(table)
        ro = Table("rollout", "challenger", "champion", "traffic", "state", "started", "ended", "reason",
                   title="rollouts")
        for r in rollouts:
            ro.add_row(f"#{r.id}", r.challenger_ref, r.champion_ref or "baseline", f"{r.traffic_percent:g}%", r.state,
                       _when(r.started_at), _when(r.ended_at), r.end_reason or "")
        console.print(ro)


@app.command("audit")
def audit(entity: Annotated[str | None, typer.Option(help="Entity name, or a prefix ending in '*'.")] = None,
          entity_type: Annotated[str | None, typer.Option(help="policy_version, decision_point, user, api_token.")]
          = None,
          actor: Annotated[str | None, typer.Option(help="Only this actor's entries.")] = None,
          limit: Annotated[int, typer.Option(help="The newest N entries.")] = 100,
          db: Db = None, as_json: JsonOpt = False) -> None:
    """Show the append-only audit log: who moved what from which state to which, when and why."""
    with user_errors():
        rows = _open(db).audit_log(entity_type=entity_type, entity_name=entity, actor=actor, limit=limit)
        if as_json:
            return print_json(_jsonable(rows))
        table = Table("#", "when", "actor", "action", "entity", "from", "to", "reason", title="audit log")
        for a in rows:
            table.add_row(str(a.id), _when(a.at), a.actor, a.action, a.entity_name, a.from_state or "",
                          a.to_state or "", a.reason or "")
        console.print(table)
