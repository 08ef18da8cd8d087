"""Who does what: roles, departments, users, vice-mayors' portfolios, absences and acting-for.

A lane in a diagram names a role (by key or Chinese name). A task in that lane goes to the one person
who holds the role in scope, or stays with the role (and department) for someone to claim. The
"vice-mayor in charge" is the vice-mayor whose portfolio contains the instance's department. A role with a
duty roster entry in force (the duty office, the leader on duty) gives its tasks to the person on duty. While an
assignee has an approved absence in force, their new tasks go to the acting person.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, and_, bindparam, delete, literal_column, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from . import accounts
from .errors import InvalidInput, NotFound
from .models import Absence, Department, DutyRoster, Portfolio, Role, User, UserRole

INITIATOR = "initiator"
INITIATOR_LANES = {INITIATOR, "申请人", "发起人"}
VICE_MAYOR = "vice_mayor"
# How an assignee was chosen (Assignment.assigned_by, stored in task_index.assigned_by).
EXPLICIT, BY_INITIATOR, PORTFOLIO, ROSTER, ROLE, ABSENCE = "explicit", "initiator", "portfolio", "roster", "role", "absence"


@dataclass(frozen=True)
class Assignment:
    role: str | None
    department: str | None
    assignee: str | None
    handed_over_from: str | None = None
    rule: str | None = None
    # explicit | initiator | portfolio | roster | role | absence; None only for a task in no known role's lane.
    # "role" also covers a task left unassigned for the role's holders to claim. An absent person's task that
    # goes to the acting person is "absence", except when the absentee was the person on duty: it stays
    # "roster", so the duty hand-over keeps moving it with the roster (duty tasks follow the shift).
    assigned_by: str | None = None


def role_for_lane(session, lane: str | None) -> dict | None:
    """What a lane name stands for: {"role": key, "scoped": department-scoped?}; None for no known role."""
    if lane is None:
        return None
    if lane in INITIATOR_LANES:
        return {"role": INITIATOR, "scoped": False}
    row = session.execute(select(Role.key, Role.department_scoped)
                          .where(or_(Role.key == lane, Role.name_zh == lane))).first()
    return {"role": row.key, "scoped": row.department_scoped} if row else None


def lane_is_known(session, lane: str) -> bool:
    return role_for_lane(session, lane) is not None


@dataclass(frozen=True)
class Profile:
    username: str
    display_name: str
    department: str | None
    roles: list[str]
    portfolio: list[str]


def _absence_in_force(people):
    """Each person the query names (with the rule that named them), and the absence in force for them at :now
    that names an acting person."""
    people = people.subquery()
    return (select(people.c.username, people.c.source, Absence.acting_username, Absence.rule)
            .outerjoin(Absence, and_(Absence.username == people.c.username, Absence.starts_at <= bindparam("now"),
                                     Absence.ends_at > bindparam("now"), Absence.acting_username.is_not(None)))
            .order_by(Absence.recorded_at))


def _source(name: str):
    return literal_column(f"'{name}'", String).label("source")


def _duty_entries(scoped: bool):
    """The roster entries for :role in force at :now whose person is active and still holds the role (in
    :department when the role is scoped): someone who lost the role is no longer put on duty by the roster.
    Its own aliases and no auto-correlation: it is nested in statements that read the same tables."""
    entry, person, held = aliased(DutyRoster), aliased(User), aliased(UserRole)
    holds_role = (select(held.id).where(held.username == entry.username, held.role_key == entry.role_key)
                  .correlate(entry))
    if scoped:
        holds_role = holds_role.where(held.department_key == bindparam("department"))
    entries = (select(entry.id).join(person, person.username == entry.username)
               .where(entry.role_key == bindparam("role"), entry.starts_at <= bindparam("now"),
                      entry.ends_at > bindparam("now"), person.active.is_(True), holds_role.exists())
               .correlate(None))
    return entries, entry


def _latest(entries):
    entries, entry = entries
    return entries.order_by(entry.starts_at.desc(), entry.id.desc()).limit(1).scalar_subquery()


def _on_duty_and_holders(scoped: bool):
    """The person on duty for :role at :now (of overlapping entries, the one that started latest) and the
    role's active holders, each row naming its source; assign() takes the person on duty when there is one.
    One statement, so assign() stays one query per task whether or not the role is rostered: the roster
    lookup is an index range scan on ix_duty_roster_role_span that finds nothing at once for an unrostered
    role, and a role has few holders. (Leaving the holders out in SQL when someone is on duty would repeat
    the roster subquery and its parameters, which costs more than reading those few rows.)"""
    on_duty = (select(DutyRoster.username.label("username"), _source(ROSTER))
               .where(DutyRoster.id == _latest(_duty_entries(scoped))))
    holders = (select(UserRole.username.label("username"), _source(ROLE))
               .join(User, User.username == UserRole.username)
               .where(UserRole.role_key == bindparam("role"), User.active.is_(True)))
    if scoped:
        holders = holders.where(UserRole.department_key == bindparam("department"))
    return union_all(on_duty, holders)


# Statements are built once: composing SQLAlchemy expressions costs more than running them on SQLite.
_CANDIDATES = {
    "person": _absence_in_force(select(User.username.label("username"), _source("person"))
                                .where(User.username == bindparam("username"), User.active.is_(True))),
    "vice_mayor": _absence_in_force(select(Portfolio.username.label("username"), _source(PORTFOLIO))
                                    .where(Portfolio.department_key == bindparam("department"))),
    "role": _absence_in_force(_on_duty_and_holders(scoped=False)),
    "role_in_department": _absence_in_force(_on_duty_and_holders(scoped=True)),
}
_ON_DUTY = select(DutyRoster).where(DutyRoster.id == _latest(_duty_entries(scoped=False)))
_PROFILE = (select(User.display_name, User.department_key, UserRole.role_key, Portfolio.department_key.label("charge"))
            .outerjoin(UserRole, UserRole.username == User.username)
            .outerjoin(Portfolio, Portfolio.username == User.username)
            .where(User.username == bindparam("username"), User.active.is_(True)))
_HOLDS_ROLE = (select(UserRole.id).join(User, User.username == UserRole.username)
               .join(Role, Role.key == UserRole.role_key)
               .where(UserRole.username == bindparam("username"), UserRole.role_key == bindparam("role"),
                      User.active.is_(True),
                      or_(Role.department_scoped.is_(False), UserRole.department_key == bindparam("department")))
               .limit(1))


_ACTING_FOR = (select(Absence.acting_username)
               .where(Absence.username == bindparam("absent"), Absence.starts_at <= bindparam("now"),
                      Absence.ends_at > bindparam("now"), Absence.acting_username.is_not(None))
               .order_by(Absence.recorded_at.desc()).limit(1))


def profile(conn, username: str) -> Profile:
    """An active user with the roles they hold and, for a vice-mayor, the departments in their charge."""
    rows = conn.execute(_PROFILE, {"username": username}).all()
    if not rows:
        raise NotFound(f"没有这个用户 / no such user: {username}")
    roles = sorted({row.role_key for row in rows if row.role_key})
    portfolio = sorted({row.charge for row in rows if row.charge})
    return Profile(username, rows[0].display_name, rows[0].department_key, roles, portfolio)


def assign(conn, lane: dict | None, department: str | None, initiator: str | None, now: datetime,
           explicit_assignee: str | None = None) -> Assignment:
    """Who a new task in ``lane`` goes to: the explicit assignee, the initiator, the vice-mayor in charge of
    ``department``, the person on duty for the role at ``now`` (duty roster), or the one holder of the role in
    scope; else it waits for a holder to claim it. An absent person's task goes to their acting person.
    One query."""
    role = lane["role"] if lane else None
    if explicit_assignee or role == INITIATOR:
        kind, params = "person", {"username": explicit_assignee or initiator}
        chosen_by = EXPLICIT if explicit_assignee else BY_INITIATOR
    elif role == VICE_MAYOR and department:
        kind, params, chosen_by = "vice_mayor", {"department": department}, PORTFOLIO
    elif role is not None:
        kind = "role_in_department" if lane["scoped"] else "role"
        params, chosen_by = {"role": role, "department": department}, ROLE
    else:
        return Assignment(None, department, None, assigned_by=None)
    rows = conn.execute(_CANDIDATES[kind], {**params, "now": now}).all()
    if any(row.source == ROSTER for row in rows):
        rows, chosen_by = [row for row in rows if row.source == ROSTER], ROSTER
    candidates = {row.username: (row if row.acting_username else None) for row in rows}
    if len(candidates) != 1:
        return Assignment(role, department, None, assigned_by=ROLE if role is not None else None)
    [(person, absence)] = candidates.items()
    if absence is None:
        return Assignment(role, department, person, assigned_by=chosen_by)
    return Assignment(role, department, absence.acting_username, handed_over_from=person, rule=absence.rule,
                      assigned_by=ROSTER if chosen_by == ROSTER else ABSENCE)


def on_duty(conn, role: str, now: datetime):
    """The duty roster entry in force for ``role`` at ``now`` (of overlapping entries, the one that started
    latest; only entries whose person is active and holds the role count), or None."""
    return conn.execute(_ON_DUTY, {"role": role, "now": now}).one_or_none()


def may_act_on(conn, username: str, role: str | None, department: str | None, assignee: str | None,
               now: datetime) -> tuple[bool, str | None]:
    """Whether ``username`` may act on a task, and for whom: the assignee may, and so may the acting person
    while the assignee's absence is in force (acting for them); an unassigned task is for the active holders
    of its role (in its department where the role is scoped)."""
    if assignee is not None:
        if assignee == username:
            return True, None
        acting = conn.scalar(_ACTING_FOR, {"absent": assignee, "now": now})
        return (True, assignee) if acting == username else (False, None)
    if role is None:
        return False, None
    holds = conn.scalar(_HOLDS_ROLE, {"username": username, "role": role, "department": department}) is not None
    return holds, None


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
    user.email = item.get("email", user.email)
    user.active = item.get("active", True)
    if item.get("password"):
        user.password_hash = accounts.hash_password(item["password"])
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


def list_users(session: Session) -> list[dict]:
    users = session.scalars(select(User).order_by(User.username)).all()
    return [{"username": u.username, "display_name": u.display_name, "department": u.department_key,
             "active": u.active, "roles": role_specs(session, u.username)} for u in users]


def active_users(conn) -> list[dict]:
    """Everyone active, for choosing a person to transfer, delegate, add as signer or copy to."""
    rows = conn.execute(select(User.username, User.display_name, User.department_key, Department.name)
                        .outerjoin(Department, Department.key == User.department_key)
                        .where(User.active.is_(True)).order_by(User.department_key, User.username))
    return [{"username": r.username, "display_name": r.display_name, "department": r.department_key,
             "department_name": r.name} for r in rows]


def role_specs(session: Session, username: str) -> list[str]:
    rows = session.execute(select(UserRole.role_key, UserRole.department_key)
                           .where(UserRole.username == username)).all()
    return sorted(f"{role}@{dept}" if dept else role for role, dept in rows)
