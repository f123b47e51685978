"""Accounts in SQL: hashed secrets, roles, tokens, and who may act for whom."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from accounts.models import User
from accounts.roles import Role, may_act_for, steers
from accounts.store import AccountError, AccountStore
from calllog.db import upgrade


@pytest.fixture
def accounts(fresh_database_url: str) -> Iterator[AccountStore]:
    upgrade(fresh_database_url)
    engine = create_engine(fresh_database_url)
    yield AccountStore(engine)
    engine.dispose()


def test_a_password_is_stored_hashed_and_opens_only_its_account(
    accounts: AccountStore,
) -> None:
    accounts.add("alice", "Alice Martin", Role.HOTLINER, "correct horse")
    with Session(accounts.engine) as session:
        stored = session.scalar(select(User.password_hash).where(User.id == "alice"))
    assert stored is not None
    assert stored.startswith("$argon2")
    assert "correct horse" not in stored
    assert accounts.authenticate("alice", "correct horse") is not None
    assert accounts.authenticate("alice", "wrong horse") is None
    assert accounts.authenticate("nobody", "correct horse") is None
    assert accounts.authenticate("ALICE'--", "correct horse") is None


def test_a_disabled_account_opens_nothing(accounts: AccountStore) -> None:
    accounts.add("bob", "Bob", Role.SUPERVISOR, "long enough")
    token = accounts.issue_token("bob")
    accounts.set_active("bob", False)
    assert accounts.authenticate("bob", "long enough") is None
    assert accounts.by_token(token) is None


def test_a_token_is_shown_once_and_replaced_by_the_next(
    accounts: AccountStore,
) -> None:
    accounts.add("carl", "Carl", Role.HOTLINER)
    first = accounts.issue_token("carl")
    account = accounts.by_token(first)
    assert account is not None
    assert account.id == "carl"
    second = accounts.issue_token("carl")
    assert accounts.by_token(first) is None
    assert accounts.by_token(second) is not None
    with Session(accounts.engine) as session:
        stored = session.scalar(select(User.token_hash).where(User.id == "carl"))
    assert stored not in (first, second)
    assert accounts.by_token("not-a-token") is None


def test_bad_ids_short_passwords_and_duplicates_are_refused(
    accounts: AccountStore,
) -> None:
    with pytest.raises(AccountError, match="account id"):
        accounts.add("Bad Id", "x", Role.HOTLINER)
    with pytest.raises(AccountError, match="8 characters"):
        accounts.add("dora", "Dora", Role.HOTLINER, "short")
    accounts.add("dora", "Dora", Role.HOTLINER)
    with pytest.raises(AccountError, match="exists already"):
        accounts.add("dora", "Dora", Role.HOTLINER)
    with pytest.raises(AccountError, match="no account"):
        accounts.set_role("nobody", Role.ADMIN)


def test_hotliners_get_an_account_each_once(accounts: AccountStore) -> None:
    created = accounts.add_hotliners([("nina", "Nina"), ("omar", "Omar")])
    assert created == ["nina", "omar"]
    assert accounts.add_hotliners([("nina", "Nina")]) == []
    nina = accounts.get("nina")
    assert nina is not None
    assert (nina.role, nina.has_password) == (Role.HOTLINER, False)


def test_hotliners_act_for_themselves_supervisors_for_everyone() -> None:
    assert may_act_for(Role.HOTLINER, "alice", "alice")
    assert not may_act_for(Role.HOTLINER, "alice", "bob")
    assert may_act_for(Role.SUPERVISOR, "sam", "bob")
    assert steers(Role.ADMIN)
    assert not steers(Role.HOTLINER)
