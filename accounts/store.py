"""Accounts in SQL: who they are, their role, their secrets (hashed), on or off.

Passwords are hashed with Argon2 (argon2-cffi); API tokens (for scripts and
the simulated hotliners) are random and stored as their SHA-256, so neither
can be read back from the database. Nothing here logs a secret.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from accounts.models import User
from accounts.roles import Role
from core.clock import utcnow
from core.errors import HotlineError

#: An account id: a hotliner's id from hotliners.yaml, or a login name.
ACCOUNT_ID = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
MIN_PASSWORD = 8


class AccountError(HotlineError):
    """An account cannot be created or changed as asked (the message says why)."""


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    role: Role
    active: bool
    has_password: bool


def _account(user: User) -> Account:
    return Account(
        id=user.id,
        name=user.name,
        role=Role(user.role),
        active=user.active,
        has_password=user.password_hash is not None,
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountStore:
    """Create, change, authenticate and look up accounts."""

    def __init__(self, engine: Engine, hasher: PasswordHasher | None = None) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        # Verified against when the account is unknown, so that a wrong login
        # and a wrong password take the same time.
        self._decoy = self.hasher.hash(secrets.token_hex(16))

    def add(
        self, account_id: str, name: str, role: Role, password: str | None = None
    ) -> Account:
        if not ACCOUNT_ID.match(account_id):
            raise AccountError(
                f"account id {account_id!r}: lower-case letters, digits, '.', '_' "
                "or '-', starting with a letter (64 at most)"
            )
        with Session(self.engine) as session:
            if session.get(User, account_id) is not None:
                raise AccountError(f"account {account_id!r} exists already")
            user = User(
                id=account_id,
                name=name or account_id,
                role=role.value,
                password_hash=self._hash(password) if password is not None else None,
                token_hash=None,
                active=True,
                created_at=utcnow(),
            )
            session.add(user)
            session.commit()
            return _account(user)

    def get(self, account_id: str) -> Account | None:
        with Session(self.engine) as session:
            user = session.get(User, account_id)
            return _account(user) if user is not None else None

    def all(self) -> list[Account]:
        with Session(self.engine) as session:
            return [
                _account(u) for u in session.scalars(select(User).order_by(User.id))
            ]

    def set_password(self, account_id: str, password: str) -> None:
        self._change(account_id, password_hash=self._hash(password))

    def set_role(self, account_id: str, role: Role) -> None:
        self._change(account_id, role=role.value)

    def set_active(self, account_id: str, active: bool) -> None:
        self._change(account_id, active=active)

    def issue_token(self, account_id: str) -> str:
        """A new API token (the old one stops working); shown once, never stored."""
        token = "hl_" + secrets.token_urlsafe(32)
        self._change(account_id, token_hash=_token_hash(token))
        return token

    def authenticate(self, account_id: str, password: str) -> Account | None:
        """The active account these credentials open, or None."""
        with Session(self.engine) as session:
            user = (
                session.get(User, account_id) if ACCOUNT_ID.match(account_id) else None
            )
            stored = user.password_hash if user is not None else None
            try:
                self.hasher.verify(stored or self._decoy, password)
            except (VerificationError, InvalidHashError):
                return None
            if user is None or stored is None or not user.active:
                return None
            if self.hasher.check_needs_rehash(stored):
                user.password_hash = self._hash(password)
                session.commit()
            return _account(user)

    def by_token(self, token: str) -> Account | None:
        """The active account an API token belongs to, or None."""
        if not token.startswith("hl_"):
            return None
        with Session(self.engine) as session:
            user = session.scalar(
                select(User).where(User.token_hash == _token_hash(token))
            )
            if user is None or not user.active:
                return None
            return _account(user)

    def add_hotliners(self, hotliners: Iterable[tuple[str, str]]) -> list[str]:
        """An account (role hotliner, no password yet) for each hotliner id that
        has none; returns the ids created."""
        created: list[str] = []
        with Session(self.engine) as session:
            for agent_id, name in hotliners:
                if session.get(User, agent_id) is None:
                    session.add(
                        User(
                            id=agent_id,
                            name=name,
                            role=Role.HOTLINER.value,
                            password_hash=None,
                            token_hash=None,
                            active=True,
                            created_at=utcnow(),
                        )
                    )
                    created.append(agent_id)
            session.commit()
        return created

    def _hash(self, password: str) -> str:
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"a password needs {MIN_PASSWORD} characters at least")
        return self.hasher.hash(password)

    def _change(self, account_id: str, **values: object) -> None:
        with Session(self.engine) as session:
            user = session.get(User, account_id)
            if user is None:
                raise AccountError(f"no account {account_id!r}")
            for name, value in values.items():
                setattr(user, name, value)
            session.commit()
