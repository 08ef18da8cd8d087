"""Who does what: roles, departments, users, vice-mayors' portfolios, absences and acting-for.

A lane in a diagram names a role (by key or Chinese name). A task in that lane goes to the one person
who holds the role in scope, or stays with the role (and department) for someone to claim. The
"vice-mayor in charge" is the vice-mayor whose portfolio contains the instance's department. While an
assignee has an approved absence in force, their new tasks go to the acting person.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from .errors import InvalidInput, NotFound
from .models import Absence, Department, Portfolio, Role, User, UserRole

INITIATOR_LANES = {"initiator", "申请人", "发起人"}
VICE_MAYOR = "vice_mayor"
_HASHER = PasswordHasher()


@dataclass(frozen=True)
class Assignment:
    role: str | None
    department: str | None
    assignee: str | None
    handed_over_from: str | None = None
    rule: str | None = None


def role_for_lane(session: Session, lane: str | None) -> str | None:
    """The role key a lane name stands for, or None when no role of that key or Chinese name exists."""
    if lane is None:
        return None
    if lane in INITIATOR_LANES:
        return "initiator"
    return session.scalar(select(Role.key).where(or_(Role.key == lane, Role.name_zh == lane)))


def lane_is_known(session: Session, lane: str) -> bool:
    return role_for_lane(session, lane) is not None


def holders(session: Session, role: str, department: str | None) -> list[str]:
    """Active users holding ``role``; for department-scoped roles, only within ``department``."""
    scoped = session.scalar(select(Role.department_scoped).where(Role.key == role))
    query = (select(UserRole.username).join(User, User.username == UserRole.username)
             .where(UserRole.role_key == role, User.active.is_(True)))
    if scoped:
        query = query.where(UserRole.department_key == department)
    return sorted(set(session.scalars(query)))


def vice_mayor_in_charge(session: Session, department: str | None) -> str | None:
    if department is None:
        return None
    return session.scalar(select(Portfolio.username).where(Portfolio.department_key == department))


def acting_for(session: Session, username: str, now: datetime) -> Absence | None:
    """The absence in force for ``username`` at ``now`` that names an acting person, if any."""
    return session.scalars(
        select(Absence).where(Absence.username == username, Absence.starts_at <= now, Absence.ends_at > now,
                              Absence.acting_username.is_not(None))
        .order_by(Absence.recorded_at.desc())).first()


def assign(session: Session, lane: str | None, department: str | None, initiator: str,
           now: datetime, explicit_assignee: str | None = None) -> Assignment:
    role = role_for_lane(session, lane)
    if explicit_assignee:
        person = explicit_assignee
    elif role == "initiator":
        person = initiator
    elif role == VICE_MAYOR and vice_mayor_in_charge(session, department):
        person = vice_mayor_in_charge(session, department)
    elif role is not None:
        people = holders(session, role, department)
        person = people[0] if len(people) == 1 else None
    else:
        person = None
    return _hand_over_if_absent(session, Assignment(role, department, person), now)


def _hand_over_if_absent(session: Session, assignment: Assignment, now: datetime) -> Assignment:
    if assignment.assignee is None:
        return assignment
    absence = acting_for(session, assignment.assignee, now)
    if absence is None:
        return assignment
    return Assignment(assignment.role, assignment.department, absence.acting_username,
                      handed_over_from=assignment.assignee, rule=absence.rule)


def may_act_on(session: Session, username: str, role: str | None, department: str | None,
               assignee: str | None) -> bool:
    if assignee is not None:
        return assignee == username
    if role is None:
        return False
    query = select(UserRole.id).where(UserRole.username == username, UserRole.role_key == role)
    scoped = session.scalar(select(Role.department_scoped).where(Role.key == role))
    if scoped:
        query = query.where(UserRole.department_key == department)
    return session.scalar(query) is not None


def get_user(session: Session, username: str) -> User:
    user = session.get(User, username)
    if user is None or not user.active:
        raise NotFound(f"没有这个用户 / no such user: {username}")
    return user


def roles_of(session: Session, username: str) -> list[str]:
    return sorted(set(session.scalars(select(UserRole.role_key).where(UserRole.username == username))))


# --- editing the directory ------------------------------------------------------------------------

def load(session: Session, directory: dict) -> dict:
    """Create or update roles, departments, users and portfolios from a directory document."""
    for item in directory.get("roles", []):
        session.merge(Role(key=item["key"], name_zh=item["name_zh"], name_en=item.get("name_en", item["key"]),
                           department_scoped=bool(item.get("department_scoped", False))))
    for item in directory.get("departments", []):
        session.merge(Department(key=item["key"], name=item["name"]))
    session.flush()
    for item in directory.get("users", []):
        put_user(session, item)
    return {key: len(directory.get(key, [])) for key in ("roles", "departments", "users")}


def put_user(session: Session, item: dict) -> User:
    username = item["username"]
    user = session.get(User, username) or User(username=username)
    user.display_name = item.get("display_name", user.display_name or username)
    user.department_key = item.get("department", user.department_key)
    user.active = item.get("active", True)
    if item.get("password"):
        user.password_hash = _HASHER.hash(item["password"])
    elif item.get("password_hash"):
        if not item["password_hash"].startswith("$argon2"):
            raise InvalidInput(f"{username}: password_hash must be an argon2 hash")
        user.password_hash = item["password_hash"]
    session.add(user)
    session.flush()
    if "roles" in item:
        session.execute(delete(UserRole).where(UserRole.username == username))
        for role in item["roles"]:
            add_role(session, username, role)
    if "portfolio" in item:
        session.execute(delete(Portfolio).where(Portfolio.username == username))
        for department in item["portfolio"]:
            session.add(Portfolio(username=username, department_key=department))
    session.flush()
    return user


def add_role(session: Session, username: str, role_spec: str) -> None:
    """``role_spec`` is ``role`` or ``role@department`` (a role scoped to a department)."""
    role, _, department = role_spec.partition("@")
    if session.get(Role, role) is None:
        raise InvalidInput(f"没有这个角色 / no such role: {role}")
    if department and session.get(Department, department) is None:
        raise InvalidInput(f"没有这个部门 / no such department: {department}")
    session.add(UserRole(username=username, role_key=role, department_key=department or None))


def check_password(user: User, password: str) -> bool:
    if not user.password_hash:
        return False
    try:
        return _HASHER.verify(user.password_hash, password)
    except Exception:
        return False


def list_users(session: Session) -> list[dict]:
    users = session.scalars(select(User).order_by(User.username)).all()
    return [{"username": u.username, "display_name": u.display_name, "department": u.department_key,
             "active": u.active, "roles": role_specs(session, u.username)} for u in users]


def role_specs(session: Session, username: str) -> list[str]:
    rows = session.execute(select(UserRole.role_key, UserRole.department_key)
                           .where(UserRole.username == username)).all()
    return sorted(f"{role}@{dept}" if dept else role for role, dept in rows)
