"""The services a diagram's service tasks may call, and the working-day functions of its expressions.

Each is bound to the running command's unit of work, so what it reads and writes is part of that command's
transaction, and its clock and calendar are the command's.
"""
from __future__ import annotations

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .clock import as_instant
from .models import Absence, DocumentNumber, Instance

_INSTANCES_OF = (select(Instance.id, Instance.title, Instance.state, Instance.data)
                 .where(or_(Instance.process_key == bindparam("process"),
                            Instance.process_key.like(bindparam("variants"))))
                 .order_by(Instance.id))
DOCUMENT_PREFIXES = {"government": "区政发", "office": "区政办发"}
_FIRST_NUMBER = {"sqlite": sqlite_insert(DocumentNumber).on_conflict_do_nothing(),
                 "postgresql": postgresql_insert(DocumentNumber).on_conflict_do_nothing()}
_NEXT_NUMBER = (update(DocumentNumber)
                .where(DocumentNumber.issuer == bindparam("b_issuer"), DocumentNumber.year == bindparam("b_year"))
                .values(last_number=DocumentNumber.last_number + 1).returning(DocumentNumber.last_number))
_RECORD_ABSENCE = insert(Absence).returning(Absence.id)
_COUNT_ABSENCES = (select(func.count()).select_from(Absence)
                   .where(Absence.username == bindparam("username"), Absence.kind == bindparam("kind"),
                          Absence.starts_at >= bindparam("start"), Absence.starts_at < bindparam("end")))


def bound(uow, instance_id: int | None) -> dict:
    """The services a diagram's service tasks may call, bound to the command's unit of work (its connection
    and instant)."""

    def record_absence(context, username, starts_at, ends_at, acting_username=None, rule="", kind="leave"):
        absence_id = uow.conn.execute(_RECORD_ABSENCE, {
            "username": username, "starts_at": as_instant(starts_at), "ends_at": as_instant(ends_at),
            "acting_username": acting_username or None, "rule": rule, "kind": kind, "instance_id": instance_id,
            "recorded_at": uow.now}).scalar_one()
        return {"absence_id": absence_id}

    def count_absences(context, username, kind, starts_from, starts_before):
        """How many absences of ``kind`` (e.g. overseas trips) ``username`` has that start in the span."""
        return uow.conn.scalar(_COUNT_ABSENCES, {"username": username, "kind": kind,
                                                 "start": as_instant(starts_from), "end": as_instant(starts_before)})

    def find_instances(context, process, field, value, fields, outcome=None):
        """Instances of ``process`` (and its district variants) whose data has ``field == value`` (and
        ``outcome`` when given), each with the data ``fields`` asked for: e.g. the topics admitted for a
        meeting."""
        rows = uow.conn.execute(_INSTANCES_OF, {"process": process, "variants": f"{process}.%"}).all()
        return [{"instance": row.id, "title": row.title, "state": row.state,
                 **{name: (row.data or {}).get(name) for name in fields}}
                for row in rows if (row.data or {}).get(field) == value
                and (outcome is None or (row.data or {}).get("outcome") == outcome)]

    def issue_document_number(context, issuer, year):
        """The next document number (文号) of ``issuer`` in ``year``, e.g. 区政发〔2026〕3号: an atomic increment,
        so documents issued at the same moment never share a number."""
        prefix = DOCUMENT_PREFIXES.get(issuer)
        if prefix is None:
            raise ValueError(f"unknown issuer {issuer!r}: one of {', '.join(DOCUMENT_PREFIXES)}")
        dialect = uow.conn.dialect.name
        uow.conn.execute(_FIRST_NUMBER[dialect], {"issuer": issuer, "year": int(year), "last_number": 0})
        number = uow.conn.scalar(_NEXT_NUMBER, {"b_issuer": issuer, "b_year": int(year)})
        return f"{prefix}〔{int(year)}〕{number}号"

    services = {"record_absence": record_absence, "count_absences": count_absences,
                "find_instances": find_instances, "issue_document_number": issue_document_number}
    return {name: _recorded(uow, name, service) for name, service in services.items()}


def _recorded(uow, name: str, service):
    """The service, with each call and its result kept on the unit of work for the command's audit event, so
    that replay can give the diagram the same answers."""

    def call(context, *args, **kwargs):
        result = service(context, *args, **kwargs)
        uow.service_calls.append({"service": name, "args": list(args), "kwargs": kwargs, "result": result})
        return result

    return call


def calendar_functions(uow) -> dict:
    """Working-day arithmetic for diagram expressions, on the calendar (with overrides) of this command."""

    def add_working_days(instant, days):
        return uow.calendar().add_working_days(as_instant(instant), int(days)).value

    def working_days_between(start, end):
        return uow.calendar().working_days_between(as_instant(start), as_instant(end)).value

    return {"add_working_days": add_working_days, "working_days_between": working_days_between}
