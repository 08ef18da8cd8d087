"""Who does what: roles, departments, users, vice-mayors' portfolios, absences and acting-for.

A lane in a diagram names a role (by key or Chinese name). A task in that lane goes to the one person
who holds the role in scope, or stays with the role (and department) for someone to claim. The
"vice-mayor in charge" is the vice-mayor whose portfolio contains the instance's department. A role with a
duty roster entry in force (the duty office, the leader on duty) gives its tasks to the person on duty. While an
assignee has an approved absence in force, their new tasks go to the acting person; an absence that names no
acting person sends them to the assignee's AB-role partner (AB角互补, 001 十一) when the partner is active and not
absent too.

Departments belong to a district, and a district says which variant it uses of each procedure that has district
variants (``overseas_travel.fangshan``): a person may start only their own district's variant.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import String, and_, bindparam, delete, literal_column, or_, select, union_all, update
from sqlalchemy.orm import Session, aliased

from . import accounts
from .prepared import Prepared
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .models import Absence, DefinitionVersion, Department, District, DutyRoster, Portfolio, Role, User, UserRole

INITIATOR = "initiator"
INITIATOR_LANES = {INITIATOR, "申请人", "发起人"}
VICE_MAYOR = "vice_mayor"
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")  # a district's or department's key
# How an assignee was chosen (Assignment.assigned_by, stored in task_index.assigned_by).
EXPLICIT, BY_INITIATOR, PORTFOLIO, ROSTER, ROLE, ABSENCE = "explicit", "initiator", "portfolio", "roster", "role", "absence"
AB_ROLE_RULE = "AB角互补（001 十一）：本人不在岗且未指定代理人，由其 B 角办理"


@dataclass(frozen=True)
class Assignment:
    role: str | None
    department: str | None
    assignee: str | None
    handed_over_from: str | None = None
    rule: str | None = None
    # explicit | initiator | portfolio | roster | role | absence; None only for a task in no known role's lane.
    # "role" also covers a task left unassigned for the role's holders to claim. An absent person's task that
    # goes to the acting person (or their AB-role partner) is "absence", except when the absentee was the person
    # on duty: it stays "roster", so the duty hand-over keeps moving it with the roster (duty tasks follow the shift).
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
    district: str | None = None
    district_name: str | None = None
    variants: dict[str, str] = field(default_factory=dict)  # procedure -> the process key the district uses


def _in_force(absence):
    return and_(absence.starts_at <= bindparam("now"), absence.ends_at > bindparam("now"))


def _absence_in_force(people):
    """Each person the query names (with the rule that named them) and each absence in force for them at :now
    (oldest recorded first); for an absence that names no acting person, the person's AB-role partner when the
    partner is active and has no absence in force."""
    people = people.subquery()
    person, partner, partner_away = aliased(User), aliased(User), aliased(Absence)
    without_acting = and_(Absence.id.is_not(None), Absence.acting_username.is_(None))
    partner_absent = select(partner_away.id).where(partner_away.username == partner.username,
                                                   _in_force(partner_away)).exists()
    return (select(people.c.username, people.c.source, Absence.acting_username, Absence.rule,
                   partner.username.label("partner"))
            .outerjoin(Absence, and_(Absence.username == people.c.username, _in_force(Absence)))
            .outerjoin(person, and_(person.username == people.c.username, without_acting))
            .outerjoin(partner, and_(partner.username == person.ab_partner, partner.active.is_(True),
                                     ~partner_absent))
            .order_by(Absence.recorded_at))


def stood_in_for(user, now):
    """A query of the people ``user`` stands in for at ``now`` (SQL values: bind parameters or plain values):
    those whose absence in force names ``user`` as the acting person, and, while ``user`` has no absence in
    force, those whose AB-role partner ``user`` is and who are away with no acting person named. For a filter
    such as ``TaskIndex.assignee.in_(stood_in_for(...))``."""
    named, away, named_elsewhere, own = aliased(Absence), aliased(Absence), aliased(Absence), aliased(Absence)

    def in_force(absence):
        return and_(absence.starts_at <= now, absence.ends_at > now)

    by_name = select(named.username).where(named.acting_username == user, in_force(named))
    as_partner = (select(User.username)
                  .join(away, and_(away.username == User.username, in_force(away), away.acting_username.is_(None)))
                  .where(User.ab_partner == user,
                         ~select(named_elsewhere.id).where(named_elsewhere.username == User.username,
                                                           in_force(named_elsewhere),
                                                           named_elsewhere.acting_username.is_not(None)).exists(),
                         ~select(own.id).where(own.username == user, in_force(own)).exists()))
    return by_name.union(as_partner)


def _stand_in(rows) -> tuple[str, str] | None:
    """Who acts for one person, and by which rule, from their rows of ``_absence_in_force``: the acting person
    of the latest recorded absence that names one, else the AB-role partner; None when nobody does."""
    acting = [row for row in rows if row.acting_username]
    if acting:
        return acting[-1].acting_username, acting[-1].rule
    partner = next((row.partner for row in rows if row.partner), None)
    return (partner, AB_ROLE_RULE) if partner else None


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
_CANDIDATES = {name: Prepared(query) for name, query in {
    "person": _absence_in_force(select(User.username.label("username"), _source("person"))
                                .where(User.username == bindparam("username"), User.active.is_(True))),
    "vice_mayor": _absence_in_force(select(Portfolio.username.label("username"), _source(PORTFOLIO))
                                    .where(Portfolio.department_key == bindparam("department"))),
    "role": _absence_in_force(_on_duty_and_holders(scoped=False)),
    "role_in_department": _absence_in_force(_on_duty_and_holders(scoped=True)),
}.items()}
_STAND_IN = Prepared(_absence_in_force(select(User.username.label("username"), _source("person"))
                                       .where(User.username == bindparam("username"))))
_ON_DUTY = select(DutyRoster).where(DutyRoster.id == _latest(_duty_entries(scoped=False)))
_PROFILE = Prepared(
    select(User.display_name, User.department_key, UserRole.role_key, Portfolio.department_key.label("charge"),
           District.key.label("district"), District.name.label("district_name"), District.variants)
    .outerjoin(UserRole, UserRole.username == User.username)
    .outerjoin(Portfolio, Portfolio.username == User.username)
    .outerjoin(Department, Department.key == User.department_key)
    .outerjoin(District, District.key == Department.district_key)
    .where(User.username == bindparam("username"), User.active.is_(True)))
_HOLDS_ROLE = (select(UserRole.id).join(User, User.username == UserRole.username)
               .join(Role, Role.key == UserRole.role_key)
               .where(UserRole.username == bindparam("username"), UserRole.role_key == bindparam("role"),
                      User.active.is_(True),
                      or_(Role.department_scoped.is_(False), UserRole.department_key == bindparam("department")))
               .limit(1))



def profile(conn, username: str) -> Profile:
    """An active user with the roles they hold, for a vice-mayor the departments in their charge, and the district
    of their department with the procedure variants it uses."""
    rows = _PROFILE.all(conn, {"username": username})
    if not rows:
        raise NotFound(f"没有这个用户 / no such user: {username}")
    roles = sorted({row.role_key for row in rows if row.role_key})
    portfolio = sorted({row.charge for row in rows if row.charge})
    first = rows[0]
    return Profile(username, first.display_name, first.department_key, roles, portfolio, first.district,
                   first.district_name, dict(first.variants or {}))


def read_ahead_profile(conn, username: str) -> None:
    """Send ahead the query ``profile`` makes for ``username`` (Prepared.read_ahead)."""
    _PROFILE.read_ahead(conn, {"username": username})


def procedure_of(process_key: str) -> str | None:
    """The procedure a district variant belongs to (``overseas_travel.fangshan`` -> ``overseas_travel``); None for
    a process without district variants."""
    procedure, dot, _ = process_key.partition(".")
    return procedure if dot else None


def offers(person: Profile, process_key: str) -> bool:
    """Whether ``process_key`` is for ``person``'s district: a district variant only if their district uses it."""
    procedure = procedure_of(process_key)
    return procedure is None or person.variants.get(procedure) == process_key


def check_variant(person: Profile, process_key: str) -> None:
    """Forbidden, saying why, when ``process_key`` is another district's variant of its procedure."""
    if offers(person, process_key):
        return
    procedure = procedure_of(process_key)
    used = person.variants.get(procedure)
    if person.district is None:
        raise Forbidden(f"{person.username} 的部门不属于任何区，不能发起各区的流程「{process_key}」 / {person.username}'s "
                        f"department belongs to no district, so they may not start the district variant {process_key}")
    if used is None:
        raise Forbidden(f"{person.district_name}没有选定「{procedure}」的流程，不能发起「{process_key}」 / "
                        f"{person.username}'s district {person.district} uses no variant of {procedure}, so they may "
                        f"not start {process_key}")
    raise Forbidden(f"「{process_key}」是其他区的流程，{person.district_name}使用「{used}」 / {process_key} is another "
                    f"district's variant: {person.username}'s district {person.district} uses {used}")


def assign(conn, lane: dict | None, department: str | None, initiator: str | None, now: datetime,
           explicit_assignee: str | None = None) -> Assignment:
    """Who a new task in ``lane`` goes to: the explicit assignee, the initiator, the vice-mayor in charge of
    ``department``, the person on duty for the role at ``now`` (duty roster), or the one holder of the role in
    scope; else it waits for a holder to claim it. An absent person's task goes to their acting person.
    One query."""
    role = lane["role"] if lane else None
    query = _candidates_query(lane, department, initiator, explicit_assignee)
    if query is None:
        return Assignment(None, department, None, assigned_by=None)
    statement, params, chosen_by = query
    rows = statement.all(conn, {**params, "now": now})
    if any(row.source == ROSTER for row in rows):
        rows, chosen_by = [row for row in rows if row.source == ROSTER], ROSTER
    candidates: dict[str, list] = {}
    for row in rows:
        candidates.setdefault(row.username, []).append(row)
    if len(candidates) != 1:
        return Assignment(role, department, None, assigned_by=ROLE if role is not None else None)
    [(person, absences)] = candidates.items()
    stand_in = _stand_in(absences)
    if stand_in is None:
        return Assignment(role, department, person, assigned_by=chosen_by)
    acting, rule = stand_in
    return Assignment(role, department, acting, handed_over_from=person, rule=rule,
                      assigned_by=ROSTER if chosen_by == ROSTER else ABSENCE)


def read_ahead_assignment(conn, lane: dict | None, department: str | None, initiator: str | None,
                          now: datetime) -> None:
    """Send ahead the query ``assign`` makes for a task in ``lane`` with these arguments (Prepared.read_ahead)."""
    query = _candidates_query(lane, department, initiator, None)
    if query is not None:
        statement, params, _ = query
        statement.read_ahead(conn, {**params, "now": now})


def _candidates_query(lane: dict | None, department: str | None, initiator: str | None,
                      explicit_assignee: str | None) -> tuple[Prepared, dict, str] | None:
    """The query for the candidates of a task in ``lane``, its parameters but the instant, and how the one
    candidate it finds was chosen; None for a task in no role."""
    role = lane["role"] if lane else None
    if explicit_assignee or role == INITIATOR:
        return (_CANDIDATES["person"], {"username": explicit_assignee or initiator},
                EXPLICIT if explicit_assignee else BY_INITIATOR)
    if role == VICE_MAYOR and department:
        return _CANDIDATES["vice_mayor"], {"department": department}, PORTFOLIO
    if role is not None:
        return (_CANDIDATES["role_in_department" if lane["scoped"] else "role"],
                {"role": role, "department": department}, ROLE)
    return None


def on_duty(conn, role: str, now: datetime):
    """The duty roster entry in force for ``role`` at ``now`` (of overlapping entries, the one that started
    latest; only entries whose person is active and holds the role count), or None."""
    return conn.execute(_ON_DUTY, {"role": role, "now": now}).one_or_none()


def may_act_on(conn, username: str, role: str | None, department: str | None, assignee: str | None,
               now: datetime) -> tuple[bool, str | None]:
    """Whether ``username`` may act on a task, and for whom: the assignee may, and so may whoever stands in for
    them while their absence is in force (the acting person, else their AB-role partner), acting for them; an
    unassigned task is for the active holders of its role (in its department where the role is scoped)."""
    if assignee is not None:
        if assignee == username:
            return True, None
        stand_in = _stand_in(_STAND_IN.all(conn, {"username": assignee, "now": now}))
        return (True, assignee) if stand_in and stand_in[0] == username else (False, None)
    if role is None:
        return False, None
    holds = conn.scalar(_HOLDS_ROLE, {"username": username, "role": role, "department": department}) is not None
    return holds, None


# --- editing the directory ------------------------------------------------------------------------

def load(session: Session, directory: dict) -> dict:
    """Create or update districts, roles, departments, users, portfolios and AB-role partners from a directory
    document."""
    for item in directory.get("districts", []):
        put_district(session, item["key"], item["name"], item.get("variants", {}))
    for item in directory.get("roles", []):
        session.merge(Role(key=item["key"], name_zh=item["name_zh"], name_en=item.get("name_en", item["key"]),
                           department_scoped=bool(item.get("department_scoped", False))))
    for item in directory.get("departments", []):
        put_department(session, item["key"], item["name"], item.get("district"))
    session.flush()
    for item in directory.get("users", []):
        put_user(session, item)
    for item in directory.get("users", []):
        if item.get("ab_partner"):
            set_partner(session, item["username"], item["ab_partner"])
    return {key: len(directory.get(key, [])) for key in ("districts", "roles", "departments", "users")}


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
             "active": u.active, "roles": role_specs(session, u.username), "ab_partner": u.ab_partner} for u in users]


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


def list_partners(session: Session) -> list[dict]:
    """Each AB-role pair once: the A and B usernames with their display names."""
    b_user = aliased(User)
    rows = session.execute(select(User.username, User.display_name, b_user.username.label("partner"),
                                  b_user.display_name.label("partner_name"))
                           .join(b_user, b_user.username == User.ab_partner)
                           .where(User.username < b_user.username).order_by(User.username)).all()
    return [{"username": r.username, "display_name": r.display_name, "partner": r.partner,
             "partner_name": r.partner_name} for r in rows]


def set_partner(session: Session, username: str, partner: str | None) -> list[str]:
    """Make ``username`` and ``partner`` each other's AB-role partner (AB角互补, 001 十一), releasing whoever either
    was paired with before; ``partner`` None leaves ``username`` without one. The people released, by name."""
    user = _existing_user(session, username)
    if partner == username:
        raise InvalidInput(f"{username} 不能做自己的 B 角 / {username} cannot be their own AB-role partner")
    other = _existing_user(session, partner) if partner else None
    released = []
    for person in (user, other):
        former = session.get(User, person.ab_partner) if person is not None and person.ab_partner else None
        if former is not None and former.username not in (username, partner):
            former.ab_partner = None
            released.append(former.username)
    user.ab_partner = partner or None
    if other is not None:
        other.ab_partner = username
    session.flush()
    return released


def _existing_user(session: Session, username: str) -> User:
    user = session.get(User, username)
    if user is None:
        raise InvalidInput(f"没有这个用户 / no such user: {username}")
    return user


# --- districts and departments -------------------------------------------------------------------------

def put_district(session: Session, key: str, name: str | None, variants: dict[str, str | None]) -> District:
    """Create or update a district: its Chinese name (None keeps it) and, for each procedure given, the variant
    it uses (None or "" for none); procedures not given keep their variant."""
    _check_key(key, "区")
    district = session.get(District, key) or District(key=key, variants={})
    district.name = _checked_name(session, District.name, key, name if name is not None else district.name, "区")
    chosen = dict(district.variants or {})
    for procedure, process_key in variants.items():
        if process_key:
            _check_variant_key(procedure, process_key)
            chosen[procedure] = process_key
        else:
            chosen.pop(procedure, None)
    district.variants = chosen
    session.add(district)
    session.flush()
    return district


def put_department(session: Session, key: str, name: str, district: str | None) -> Department:
    """Create a department or rename it, and set the district it belongs to (None for none)."""
    _check_key(key, "部门")
    if district and session.get(District, district) is None:
        raise InvalidInput(f"没有这个区 / no such district: {district}")
    department = session.get(Department, key) or Department(key=key)
    department.name = _checked_name(session, Department.name, key, name, "部门")
    department.district_key = district or None
    session.add(department)
    session.flush()
    return department


def move_all_departments(session: Session, district: str) -> int:
    """Place every department in ``district`` (the demo directory's people then work there); how many moved."""
    if session.get(District, district) is None:
        raise InvalidInput(f"没有这个区 / no such district: {district}")
    return session.execute(update(Department).values(district_key=district)).rowcount


def remove_department(session: Session, key: str) -> None:
    """Delete a department nobody uses; Conflict naming the users, roles and portfolios that still use it."""
    department = session.get(Department, key)
    if department is None:
        raise NotFound(f"没有这个部门 / no such department: {key}")
    users = session.scalars(select(User.username).where(User.department_key == key).order_by(User.username)).all()
    roles = session.execute(select(UserRole.username, UserRole.role_key).where(UserRole.department_key == key)
                            .order_by(UserRole.username, UserRole.role_key)).all()
    charges = session.scalars(select(Portfolio.username).where(Portfolio.department_key == key)
                              .order_by(Portfolio.username)).all()
    role_names = [f"{r.role_key}@{key}（{r.username}）" for r in roles]
    _refuse_while_used("部门", "department", key, department.name,
                       [("用户", "users", users), ("角色", "roles", role_names),
                        ("分管副区长", "in the portfolio of", charges)])
    session.delete(department)
    session.flush()


def put_role(session: Session, key: str, name_zh: str, name_en: str, scoped: bool) -> Role:
    """Create a role or rename it; ``scoped`` says whether it is held per department (a department's head)."""
    _check_key(key, "角色")
    role = session.get(Role, key) or Role(key=key)
    role.name_zh = _checked_name(session, Role.name_zh, key, name_zh, "角色")
    role.name_en = (name_en or "").strip() or key
    role.department_scoped = scoped
    session.add(role)
    session.flush()
    return role


def remove_role(session: Session, key: str) -> Role:
    """Delete a role nobody holds, no roster names and no deployed diagram's lane stands for; Conflict naming
    what still uses it otherwise."""
    role = session.get(Role, key)
    if role is None:
        raise NotFound(f"没有这个角色 / no such role: {key}")
    holders = session.scalars(select(UserRole.username).where(UserRole.role_key == key).distinct()
                              .order_by(UserRole.username)).all()
    rostered = session.scalars(select(DutyRoster.username).where(DutyRoster.role_key == key).distinct()
                               .order_by(DutyRoster.username)).all()
    diagrams = sorted({f"{row.process_key} v{row.version}" for row in session.execute(
        select(DefinitionVersion.process_key, DefinitionVersion.version, DefinitionVersion.properties))
        if any((lane or {}).get("role") == key for lane in (row.properties.get("lanes") or {}).values())})
    _refuse_while_used("角色", "role", key, role.name_zh,
                       [("用户", "held by", holders), ("值班表", "on the roster of", rostered),
                        ("流程泳道", "a lane of", diagrams)])
    session.delete(role)
    session.flush()
    return role


def list_roles(session: Session) -> list[dict]:
    return [role_dict(role) for role in session.scalars(select(Role).order_by(Role.key))]


def role_dict(role: Role) -> dict:
    return {"key": role.key, "name": role.name_zh, "name_en": role.name_en, "scoped": role.department_scoped}


def _refuse_while_used(kind_zh: str, kind_en: str, key: str, name: str, uses: list[tuple[str, str, list]]) -> None:
    """Conflict naming every use, when any of ``uses`` ((Chinese label, English label, names), ...) has names."""
    if not any(names for _, _, names in uses):
        return
    zh = "；".join(f"{label} {', '.join(names)}" for label, _, names in uses if names)
    en = "; ".join(f"{label} {', '.join(names)}" for _, label, names in uses if names)
    raise Conflict(f"{kind_zh}「{name}」仍在使用，不能删除：{zh} / the {kind_en} {key} is still used and cannot be "
                   f"deleted: {en}")


def list_districts(session: Session) -> list[dict]:
    """Every district with the variants it uses and its departments."""
    departments: dict[str | None, list[dict]] = {}
    for row in session.scalars(select(Department).order_by(Department.key)):
        departments.setdefault(row.district_key, []).append({"key": row.key, "name": row.name})
    return [{"key": d.key, "name": d.name, "variants": dict(d.variants or {}),
             "departments": departments.get(d.key, [])}
            for d in session.scalars(select(District).order_by(District.key))]


def list_departments(session: Session) -> list[dict]:
    return [department_dict(department) for department in session.scalars(select(Department).order_by(Department.key))]


def department_dict(department: Department) -> dict:
    return {"key": department.key, "name": department.name, "district": department.district_key}


def _check_key(key: str, what: str) -> None:
    if not _KEY.fullmatch(key or ""):
        raise InvalidInput(f"{what}代码只能用小写字母、数字和下划线，以字母开头 / a key is lower-case letters, digits and "
                           f"underscores, starting with a letter (at most 64): {key!r}")


def _checked_name(session: Session, name_column, key: str, name: str | None, what: str) -> str:
    """``name`` stripped, refused when empty, longer than ``name_column`` holds or already another row's."""
    name = (name or "").strip()
    limit = name_column.type.length
    if not name or len(name) > limit:
        raise InvalidInput(f"请填写{what}名称（不超过{limit}字） / a name is required (at most {limit} characters): {key}")
    table = name_column.class_
    holder = session.scalar(select(table.key).where(name_column == name, table.key != key))
    if holder is not None:
        raise InvalidInput(f"名称「{name}」已被 {holder} 使用 / the name {name} is already used by {holder}")
    return name


def _check_variant_key(procedure: str, process_key: str) -> None:
    if procedure_of(process_key) != procedure:
        raise InvalidInput(f"「{process_key}」不是「{procedure}」的区流程 / {process_key} is not a district variant of "
                           f"{procedure} (it would be {procedure}.<district>)")
