"""Users, roles, argon2 password hashes and API tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from registry_helpers import PASSWORDS
from sqlalchemy import text

from policies.registry import AlreadyExists, AuthenticationFailed, InvalidTransition, PermissionDenied


def test_first_user_bootstraps_as_admin_only_once(registry):
    with pytest.raises(ValueError, match="the first user must be an admin"):
        registry.create_user(None, "eve", "long-enough", "approver")
    root = registry.create_user(None, "root", "root-pass-1", "admin")
    assert root.role == "admin"
    with pytest.raises(PermissionDenied, match="only the very first user"):
        registry.create_user(None, "eve", "long-enough", "admin")
    assert registry.audit_log()[0].actor == "system:bootstrap"


def test_passwords_are_stored_as_argon2id_hashes(registry, people):
    with registry.engine.connect() as conn:
        hashes = dict(conn.execute(text("SELECT username, password_hash FROM users")).all())
    assert all(h.startswith("$argon2id$") for h in hashes.values())
    assert PASSWORDS["alice"] not in hashes["alice"]
    assert hashes["bob"] != hashes["carol"]


def test_authenticate(registry, people):
    assert registry.authenticate("alice", PASSWORDS["alice"]).role == "requester"
    for username, password in (("alice", "wrong-password"), ("nobody", "whatever1"), ("alice", "")):
        with pytest.raises(AuthenticationFailed, match="unknown user or wrong password"):
            registry.authenticate(username, password)


def test_only_admins_manage_users(registry, people):
    with pytest.raises(PermissionDenied, match="'bob' has role 'approver', but 'manage_users' needs one of \\['admin'\\]"):
        registry.create_user(people.bob, "eve", "long-enough", "approver")
    with pytest.raises(PermissionDenied):
        registry.set_role(people.alice, "alice", "approver")  # no self-promotion
    assert registry.set_role(people.root, "alice", "approver").role == "approver"
    with pytest.raises(AlreadyExists):
        registry.create_user(people.root, "alice", "long-enough", "viewer")
    with pytest.raises(ValueError, match="role: expected one of"):
        registry.create_user(people.root, "eve", "long-enough", "superuser")
    with pytest.raises(ValueError, match="password: expected at least 8 characters"):
        registry.create_user(people.root, "eve", "short", "viewer")


def test_role_change_applies_to_an_already_authenticated_user(registry, people, banner):
    registry.set_role(people.root, "bob", "viewer")
    with pytest.raises(PermissionDenied, match="'bob' has role 'viewer'"):
        registry.kill(people.bob, banner)  # people.bob was authenticated as an approver


def test_deactivated_user_can_neither_log_in_nor_act(registry, people, banner):
    registry.set_active(people.root, "carol", False)
    with pytest.raises(AuthenticationFailed, match="deactivated"):
        registry.authenticate("carol", PASSWORDS["carol"])
    with pytest.raises(PermissionDenied, match="deactivated"):
        registry.kill(people.carol, banner)
    registry.set_active(people.root, "carol", True)
    registry.kill(people.carol, banner)


def test_password_change_by_self_and_by_admin(registry, people):
    registry.set_password(people.alice, "alice", "a-new-password")
    assert registry.authenticate("alice", "a-new-password").username == "alice"
    with pytest.raises(PermissionDenied):
        registry.set_password(people.alice, "bob", "hijacked-pass")
    registry.set_password(people.root, "bob", "reset-by-admin")
    assert registry.authenticate("bob", "reset-by-admin").username == "bob"
    assert not any("a-new-password" in str(a.details) + str(a.reason) for a in registry.audit_log())


def test_api_tokens_store_only_a_hash_and_can_be_revoked(registry, people):
    record, token = registry.create_token(people.root, "bob", "decision-api")
    assert token.startswith("rrl_") and len(token) > 40 and record.prefix == token[:12]
    with registry.engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM api_tokens")).scalar_one()
    assert token not in stored and len(stored) == 64
    assert registry.authenticate_token(token).username == "bob"
    with pytest.raises(AuthenticationFailed, match="unknown or revoked"):
        registry.authenticate_token(token + "x")
    with pytest.raises(PermissionDenied):
        registry.create_token(people.alice, "bob", "stolen")  # not an admin, not her own
    own, own_token = registry.create_token(people.alice, "alice", "laptop")
    registry.revoke_token(people.bob, record.id)  # the owner may revoke
    with pytest.raises(AuthenticationFailed, match="unknown or revoked"):
        registry.authenticate_token(token)
    with pytest.raises(InvalidTransition, match="from 'revoked' to 'revoked'"):
        registry.revoke_token(people.root, record.id)
    assert registry.authenticate_token(own_token).username == "alice"
    assert [(t.username, t.revoked_at is not None) for t in registry.list_tokens()] == [("bob", True), ("alice", False)]
    actions = [a.action for a in registry.audit_log(entity_type="api_token")]
    assert actions == ["token.create", "token.create", "token.revoke"]
