"""The admins' edits of the directory beyond users and the roster: districts and the procedure variant each uses,
departments and their district, roles, AB-role partners (AB角互补, 001 十一).

Each edit is one unit of work, for admins only (checked here, whoever calls), with one audit event
``directory_change`` saying what changed, before and after. A district may only use a variant that is deployed.
"""
from __future__ import annotations

from sqlalchemy import select

from . import audit, directory
from .errors import InvalidInput
from .models import DefinitionVersion, Department, District, Role, User
from .operations import check_admin

_DEPLOYED_KEYS = select(DefinitionVersion.process_key).distinct()


class DirectoryAdmin:
    def __init__(self, engine):
        self._engine = engine

    # --- what the pages and the CLI list ----------------------------------------------------------------

    def districts(self) -> list[dict]:
        with self._engine.read() as session:
            return directory.list_districts(session)

    def departments(self) -> list[dict]:
        with self._engine.read() as session:
            return directory.list_departments(session)

    def roles(self) -> list[dict]:
        with self._engine.read() as session:
            return directory.list_roles(session)

    def partners(self) -> list[dict]:
        with self._engine.read() as session:
            return directory.list_partners(session)

    def variant_choices(self) -> dict[str, list[str]]:
        """procedure -> its deployed district variants (``overseas_travel`` -> ``overseas_travel.fangshan``, ...)."""
        with self._engine.read() as session:
            keys = session.scalars(_DEPLOYED_KEYS).all()
        choices: dict[str, list[str]] = {}
        for key in sorted(keys):
            procedure = directory.procedure_of(key)
            if procedure is not None:
                choices.setdefault(procedure, []).append(key)
        return choices

    # --- edits --------------------------------------------------------------------------------------------

    def put_district(self, key: str, name: str | None, variants: dict[str, str | None], actor: str) -> dict:
        """Create or update a district: its name (None keeps it) and the variant it uses of each procedure given
        (None or "" for none); each variant must be deployed."""
        with self._engine.unit_of_work() as uow:
            check_admin(uow.conn, actor)
            _check_deployed(uow.session, [process_key for process_key in variants.values() if process_key])
            before = _district_dict(uow.session.get(District, key))
            after = _district_dict(directory.put_district(uow.session, key, name, variants))
            _record(uow, actor, "district", key, before, after)
            return after

    def put_department(self, key: str, name: str, district: str | None, actor: str) -> dict:
        """Add a department, or rename it; set the district it belongs to."""
        with self._engine.unit_of_work() as uow:
            check_admin(uow.conn, actor)
            before = _department_dict(uow.session.get(Department, key))
            after = _department_dict(directory.put_department(uow.session, key, name, district))
            _record(uow, actor, "department", key, before, after)
            return after

    def remove_department(self, key: str, actor: str) -> dict:
        """Delete a department nobody uses (Conflict, naming who still does, otherwise)."""
        with self._engine.unit_of_work() as uow:
            check_admin(uow.conn, actor)
            before = _department_dict(uow.session.get(Department, key))
            directory.remove_department(uow.session, key)
            _record(uow, actor, "department", key, before, None)
            return before

    def put_role(self, key: str, name_zh: str, name_en: str, scoped: bool, actor: str) -> dict:
        """Add a role (a diagram's lane can then stand for it), or rename it; ``scoped``: held per department."""
        with self._engine.unit_of_work() as uow:
            check_admin(uow.conn, actor)
            before = _role_dict(uow.session.get(Role, key))
            after = _role_dict(directory.put_role(uow.session, key, name_zh, name_en, scoped))
            _record(uow, actor, "role", key, before, after)
            return after

    def remove_role(self, key: str, actor: str) -> dict:
        """Delete a role nobody holds, no roster names and no diagram uses (Conflict, naming them, otherwise)."""
        with self._engine.unit_of_work() as uow:
            check_admin(uow.conn, actor)
            before = _role_dict(directory.remove_role(uow.session, key))
            _record(uow, actor, "role", key, before, None)
            return before

    def set_partner(self, username: str, partner: str | None, actor: str) -> dict:
        """Pair ``username`` with ``partner`` as each other's AB-role partner (None: no partner); whoever either
        was paired with before is released."""
        with self._engine.unit_of_work() as uow:
            check_admin(uow.conn, actor)
            user = uow.session.get(User, username)
            before = user.ab_partner if user is not None else None
            released = directory.set_partner(uow.session, username, partner)
            _record(uow, actor, "ab_partner", username, before, partner or None)
            return {"username": username, "ab_partner": partner or None, "released": released}


def _check_deployed(session, keys: list[str]) -> None:
    missing = sorted(set(keys) - set(session.scalars(_DEPLOYED_KEYS.where(DefinitionVersion.process_key.in_(keys)))))
    if missing:
        raise InvalidInput(f"流程「{'、'.join(missing)}」尚未部署，不能选用 / not deployed, so no district may use it: "
                           f"{', '.join(missing)}")


def _record(uow, actor: str, what: str, key: str, before, after) -> None:
    audit.record(uow.session, action="directory_change", actor=actor, at=uow.now,
                 data={"what": what, "key": key, "before": before, "after": after})


def _district_dict(district: District | None) -> dict | None:
    if district is None:
        return None
    return {"key": district.key, "name": district.name, "variants": dict(district.variants or {})}


def _role_dict(role: Role | None) -> dict | None:
    return None if role is None else directory.role_dict(role)


def _department_dict(department: Department | None) -> dict | None:
    return None if department is None else directory.department_dict(department)
