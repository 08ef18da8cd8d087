"""Signing in: argon2 password hashes for people, SHA-256-hashed bearer tokens for API clients."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, insert, select, update

from .clock import local_iso
from .errors import InvalidInput, NotFound
from .models import ApiToken, User

_HASHER = PasswordHasher()
# Verifying against this when the user is unknown keeps the answer's timing the same as for a wrong password.
_UNKNOWN_USER_HASH = _HASHER.hash(secrets.token_hex(16))
_PASSWORD_HASH = select(User.password_hash).where(User.username == bindparam("username"), User.active.is_(True))
_TOKEN_OWNER = (select(ApiToken.id, ApiToken.username).join(User, User.username == ApiToken.username)
                .where(ApiToken.token_sha256 == bindparam("digest"), ApiToken.revoked_at.is_(None),
                       User.active.is_(True)))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def password_matches(conn, username: str, password: str) -> bool:
    """Whether an active user ``username`` has this password; unknown users and users without a password
    take as long to refuse as a wrong password."""
    stored = conn.scalar(_PASSWORD_HASH, {"username": username})
    try:
        return _HASHER.verify(stored or _UNKNOWN_USER_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def issue_token(conn, username: str, label: str, now: datetime) -> str:
    label = label.strip()
    if not label or len(label) > 64:
        raise InvalidInput("令牌名称必填，最多 64 个字 / a token needs a label of at most 64 characters")
    if conn.scalar(select(User.username).where(User.username == username, User.active.is_(True))) is None:
        raise NotFound(f"没有这个用户 / no such user: {username}")
    token = "gf_" + secrets.token_urlsafe(32)
    conn.execute(insert(ApiToken), {"username": username, "label": label, "token_sha256": _digest(token),
                                    "created_at": now})
    return token


def token_owner(conn, token: str, now: datetime) -> str | None:
    row = conn.execute(_TOKEN_OWNER, {"digest": _digest(token)}).one_or_none()
    if row is None:
        return None
    conn.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    return row.username


def tokens(conn, username: str) -> list[dict]:
    rows = conn.execute(select(ApiToken.label, ApiToken.created_at, ApiToken.last_used_at)
                        .where(ApiToken.username == username, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id))
    return [{"label": r.label, "created_at": local_iso(r.created_at), "last_used_at": local_iso(r.last_used_at)}
            for r in rows]


def revoke_token(conn, username: str, label: str, now: datetime) -> int:
    result = conn.execute(update(ApiToken).where(ApiToken.username == username, ApiToken.label == label,
                                                 ApiToken.revoked_at.is_(None)).values(revoked_at=now))
    if result.rowcount == 0:
        raise NotFound(f"没有这个令牌 / {username} has no active token labelled {label!r}")
    return result.rowcount


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
