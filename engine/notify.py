"""Notifications: an in-app list per person, and e-mail through SMTP when it is configured.

The in-app notice is written in the command's transaction; the e-mail is sent only after the commit, so a
command that is rolled back mails nobody, and a mail server that is down loses no notice.
"""
from __future__ import annotations

import logging
import os
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import bindparam, func, insert, select, update

from .clock import local_iso
from .models import Notification, TaskIndex, User
from .prepared import Prepared, column_param

log = logging.getLogger(__name__)

NEW_TASK, URGED, RETURNED, OVERDUE, COPIED = "new_task", "urged", "returned", "overdue", "copied"
DELEGATED, TRANSFERRED, SIGNER, WITHDRAWN = "delegated", "transferred", "signer", "withdrawn"
SUBJECTS = {NEW_TASK: "新待办", URGED: "催办", RETURNED: "退回", OVERDUE: "已超时", COPIED: "抄送",
            DELEGATED: "委派", TRANSFERRED: "转办", SIGNER: "加签", WITHDRAWN: "撤回"}

_COLUMNS = ["username", "kind", "message", "instance_id", "task_id", "created_at"]
_INSERT = Prepared(insert(Notification), _COLUMNS)
# For a task row added in the same command, named by its SpiffWorkflow task id: its id need not have come back.
_OPEN_TASK_ID = (select(TaskIndex.id).where(TaskIndex.instance_id == bindparam("instance_id"),
                                            TaskIndex.spiff_task_id == bindparam("spiff_task_id"),
                                            TaskIndex.state == "open").scalar_subquery())
_INSERT_FOR_NEW_TASK = Prepared(insert(Notification).from_select(_COLUMNS, select(
    *[_OPEN_TASK_ID if name == "task_id" else column_param(Notification.__table__, name) for name in _COLUMNS])))
_DISPLAY_NAME = select(User.display_name).where(User.username == bindparam("username"))
_EMAIL = Prepared(select(User.email).where(User.username == bindparam("username"), User.email.is_not(None),
                                           User.active.is_(True)))


def name(conn, username: str) -> str:
    """How a notice names a person: their display name, else their username."""
    return conn.scalar(_DISPLAY_NAME, {"username": username}) or username


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = None
    starttls: bool = False

    @classmethod
    def from_env(cls) -> "SmtpSettings | None":
        """``GOVFLOW_SMTP_HOST`` turns e-mail on; off by default."""
        host = os.environ.get("GOVFLOW_SMTP_HOST")
        if not host:
            return None
        return cls(host, int(os.environ.get("GOVFLOW_SMTP_PORT", "25")),
                   os.environ.get("GOVFLOW_SMTP_FROM", "govflow@localhost"),
                   os.environ.get("GOVFLOW_SMTP_USER"), os.environ.get("GOVFLOW_SMTP_PASSWORD"),
                   os.environ.get("GOVFLOW_SMTP_STARTTLS", "") == "1")


def send(uow, usernames, kind: str, message: str, *, instance_id: int | None = None,
         task_id: int | None = None, spiff_task_id: str | None = None) -> list[str]:
    """Notify each of ``usernames`` (once each, in order) inside the unit of work ``uow``, about the task
    ``task_id``, or the open task of the instance whose SpiffWorkflow task id is ``spiff_task_id``."""
    people = list(dict.fromkeys(name for name in usernames if name))
    if not people:
        return []
    notices = [{"username": name, "kind": kind, "message": message[:512], "instance_id": instance_id,
                "created_at": uow.now} for name in people]
    if spiff_task_id is None:
        _INSERT.executemany(uow.conn, [{**notice, "task_id": task_id} for notice in notices])
    else:
        _INSERT_FOR_NEW_TASK.executemany(uow.conn, [{**notice, "spiff_task_id": spiff_task_id} for notice in notices])
    settings = SmtpSettings.from_env()
    if settings is not None:
        addresses = [email for email in (_EMAIL.scalar(uow.conn, {"username": name}) for name in people) if email]
        if addresses:
            uow.after_commit.append(lambda: _mail(settings, addresses, kind, message))
    return people


def _mail(settings: SmtpSettings, addresses: list[str], kind: str, message: str) -> None:
    mail = EmailMessage()
    mail["Subject"] = f"[GovFlow] {SUBJECTS.get(kind, kind)}"
    mail["From"] = settings.sender
    mail["To"] = ", ".join(addresses)
    mail.set_content(message)
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=10) as smtp:
            if settings.starttls:
                smtp.starttls()
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as err:
        # The in-app notice is already committed; a mail server that is down must not fail the command.
        log.warning("could not e-mail a %s notice to %s: %s", kind, addresses, err)


def listing(conn, username: str, unread_only: bool = False, limit: int = 50) -> list[dict]:
    query = select(Notification.__table__).where(Notification.username == username)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    rows = conn.execute(query.order_by(Notification.id.desc()).limit(limit))
    return [{"id": r.id, "kind": r.kind, "message": r.message, "instance": r.instance_id, "task": r.task_id,
             "created_at": local_iso(r.created_at), "read_at": local_iso(r.read_at)} for r in rows]


def unread_count(conn, username: str) -> int:
    return conn.scalar(select(func.count()).select_from(Notification)
                       .where(Notification.username == username, Notification.read_at.is_(None)))


def mark_read(conn, username: str, ids: list[int] | None, now: datetime) -> int:
    query = update(Notification).where(Notification.username == username, Notification.read_at.is_(None))
    if ids is not None:
        query = query.where(Notification.id.in_(ids))
    return conn.execute(query.values(read_at=now)).rowcount
