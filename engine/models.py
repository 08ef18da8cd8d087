"""SQLAlchemy tables. Read-side queries use the indexed tables (task index, timers, instances);
only commands load workflow state."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        TypeDecorator, UniqueConstraint, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator):
    """Stores instants as UTC and always gives back timezone-aware UTC datetimes (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give an aware instant")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect):
        """The converter TypeDecorator builds, remembering its last result: a command binds the same instant
        (its "now") to several columns, and converting an Asia/Shanghai instant is the dearer part. Equal
        instants convert alike whatever their zone, so equality is the test."""
        convert = super().bind_processor(dialect)
        last = (None, None)

        def process(value):
            nonlocal last
            seen, converted = last
            if value is None or value != seen:
                converted = convert(value)
                last = (value, converted)
            return converted

        return process

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict: JSON, list: JSON}


class Role(Base):
    __tablename__ = "roles"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64), unique=True)
    name_en: Mapped[str] = mapped_column(String(128))
    department_scoped: Mapped[bool] = mapped_column(Boolean, default=False)


class District(Base):
    """A district (区): the variant of each procedure it uses (procedure -> process key, e.g. "overseas_travel"
    -> "overseas_travel.fangshan"); a procedure without district variants is not named. Its departments say who
    works in it."""
    __tablename__ = "districts"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    variants: Mapped[dict] = mapped_column(JSON, default=dict)


class Department(Base):
    __tablename__ = "departments"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    district_key: Mapped[str | None] = mapped_column(ForeignKey("districts.key"), nullable=True)


class User(Base):
    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(128))
    department_key: Mapped[str | None] = mapped_column(ForeignKey("departments.key"), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # Where notifications are e-mailed when SMTP is configured.
    email: Mapped[str | None] = mapped_column(String(256), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The B partner of the AB-role system (AB角互补, 001 十一); kept symmetric: the partner's partner is this user.
    ab_partner: Mapped[str | None] = mapped_column(ForeignKey("users.username"), nullable=True)


class UserRole(Base):
    __tablename__ = "user_roles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username", ondelete="CASCADE"), index=True)
    role_key: Mapped[str] = mapped_column(ForeignKey("roles.key"), index=True)
    department_key: Mapped[str | None] = mapped_column(ForeignKey("departments.key"), nullable=True)
    __table_args__ = (UniqueConstraint("username", "role_key", "department_key", name="uq_user_role_scope"),)


class Portfolio(Base):
    """A vice-mayor's portfolio: the departments in their charge (分管)."""
    __tablename__ = "portfolios"
    username: Mapped[str] = mapped_column(ForeignKey("users.username", ondelete="CASCADE"), primary_key=True)
    department_key: Mapped[str] = mapped_column(ForeignKey("departments.key"), primary_key=True)


class Absence(Base):
    """An approved absence; while it is in force the acting person receives the absentee's new tasks."""
    __tablename__ = "absences"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    acting_username: Mapped[str | None] = mapped_column(ForeignKey("users.username"), nullable=True)
    rule: Mapped[str] = mapped_column(String(256), default="")
    # What the absence is: "leave" (请假报备) or "overseas_trip" (因公出国(境), counted against yearly limits).
    kind: Mapped[str] = mapped_column(String(32), default="leave", server_default="leave")
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"), nullable=True)
    recorded_at: Mapped[datetime]


class DutyRoster(Base):
    """Who is on duty for a role over a half-open span [starts_at, ends_at): while an entry is in force, the
    role's new tasks go to the rostered person (004 第七十六条: the duty office's tasks belong to whoever is
    on duty at that moment). Where entries overlap, the one that started latest is in force."""
    __tablename__ = "duty_roster"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role_key: Mapped[str] = mapped_column(ForeignKey("roles.key"))
    username: Mapped[str] = mapped_column(ForeignKey("users.username"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(String(256), default="")
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    __table_args__ = (Index("ix_duty_roster_role_span", "role_key", "starts_at", "ends_at"),)


class DocumentNumber(Base):
    """The last document number (文号) issued per issuer and year; issuing one is an atomic increment."""
    __tablename__ = "document_numbers"
    issuer: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class Attachment(Base):
    """A file kept with an instance; uploading a file of the same name again adds the next version."""
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(512), default="")
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("instance_id", "name", "version", name="uq_attachment_version"),)


class CalendarOverride(Base):
    __tablename__ = "calendar_overrides"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(256), default="")
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class DefinitionVersion(Base):
    __tablename__ = "definition_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    process_key: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    source_name: Mapped[str] = mapped_column(String(256))
    source_xml: Mapped[str] = mapped_column(Text)
    dmn_sources: Mapped[dict]
    forms: Mapped[dict]
    spec: Mapped[dict]
    properties: Mapped[dict]
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(512), default="", server_default="")
    __table_args__ = (UniqueConstraint("process_key", "version", name="uq_definition_key_version"),)


class Draft(Base):
    """A designer's unsaved-to-deploy edit of a process model: its diagram, DMN tables and forms."""
    __tablename__ = "drafts"
    process_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    source_xml: Mapped[str] = mapped_column(Text)
    dmn_sources: Mapped[dict]
    forms: Mapped[dict]
    base_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class Instance(Base):
    __tablename__ = "instances"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("definition_versions.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(128), index=True)
    title: Mapped[str] = mapped_column(String(256), default="")
    state: Mapped[str] = mapped_column(String(16), index=True)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime]
    started_by: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict]
    workflow: Mapped[dict]
    __mapper_args__ = {"version_id_col": lock_version}


class InstanceTask(Base):
    """One SpiffWorkflow task of an instance, as its serializer writes it; a step rewrites only the rows
    it changed."""
    __tablename__ = "instance_tasks"
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(36), default="")
    body: Mapped[dict]


class TaskIndex(Base):
    """One row per open or finished user task: what inboxes and lists read."""
    __tablename__ = "task_index"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    # A step returned to (退回) or withdrawn (撤回) is re-opened as the same SpiffWorkflow task: one open row per
    # task at a time, its earlier rounds kept as finished rows.
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    process_key: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(256))
    role: Mapped[str | None] = mapped_column(String(64), nullable=True)
    candidate_department: Mapped[str | None] = mapped_column(String(64), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    form: Mapped[str | None] = mapped_column(String(256), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    due_note: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # How the limit is counted: "working_days" or "minutes" (hours and minutes on the wall clock).
    due_unit: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The instant the step was actually made (a phone call's time), when it differs from completed_at.
    done_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # How the assignee was chosen (directory.Assignment.assigned_by): explicit, initiator, portfolio, roster,
    # role or absence; the duty hand-over moves only the "roster" rows.
    assigned_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Who sent the task: the person whose step opened it (the initiator for a first step, "system" for a timer).
    sent_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The how-many-th time this step is open in its instance: a return or withdrawal opens the next round.
    round: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Who still has to act on the task after its current assignee before the step is done: a delegator
    # (委派) or the people added as signers (加签), each {"user", "kind"}; and who acted before, with their input.
    queue: Mapped[list] = mapped_column(default=lambda: [], server_default=text("'[]'"))
    hops: Mapped[list] = mapped_column(default=lambda: [], server_default=text("'[]'"))
    draft: Mapped[dict | None] = mapped_column(nullable=True)
    overdue_notified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (
        Index("uq_task_index_open_spiff_task", "spiff_task_id", unique=True,
              sqlite_where=text("state = 'open'"), postgresql_where=text("state = 'open'")),
        Index("ix_task_index_spiff_task", "spiff_task_id"),
        Index("ix_task_index_open_due", "state", "due_at"),
        Index("ix_task_index_assignee_state_due", "assignee", "state", "due_at"),
        Index("ix_task_index_role_state_due", "role", "state", "due_at"),
        Index("ix_task_index_completed_by", "completed_by", "completed_at"),
    )


class Timer(Base):
    """A pending BPMN timer with its absolute due instant, so a worker pass is one indexed query."""
    __tablename__ = "timers"
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)
    spiff_task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    due_at: Mapped[datetime] = mapped_column(index=True)


class AuditEvent(Base):
    """Append-only: the application inserts events and never updates or deletes them, and the database
    refuses to (triggers from migration 0006)."""
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"), nullable=True, index=True)
    task_id: Mapped[int | None] = mapped_column(nullable=True)
    actor: Mapped[str] = mapped_column(String(64))
    on_behalf_of: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict]
    # The global chain and the instance's chain (engine.audit): SHA-256 over the previous hash and the content.
    hash: Mapped[str] = mapped_column(String(64))
    instance_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Copy(Base):
    """抄送: a read-only copy of an instance sent to someone; reading it records the receipt."""
    __tablename__ = "copies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(ForeignKey("users.username"))
    sent_by: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(String(512), default="")
    read_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (Index("ix_copies_recipient_sent", "recipient", "sent_at"),)


class Notification(Base):
    """An in-app notice to one person: a new task, an urge, a return, an overdue task, a copy."""
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(String(512))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), nullable=True)
    task_id: Mapped[int | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (Index("ix_notifications_user_read", "username", "read_at", "id"),)


class Comment(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    text: Mapped[str] = mapped_column(Text)


class ApiToken(Base):
    """A bearer token for API clients; only its SHA-256 is kept."""
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
