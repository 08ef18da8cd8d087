"""Notifications are e-mailed through SMTP when it is configured: a real SMTP server (aiosmtpd) receives them.
Without configuration nothing is sent, and a mail server that is down loses no in-app notice."""
import email
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller

from engine import directory

from .helpers import open_task
from .test_document_incoming import CLERK, REGISTER, complete, start

MAYOR = "wang_mayor"


class Inbox:
    """An SMTP handler keeping each message received, parsed with the modern e-mail policy."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch):
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    monkeypatch.setenv("GOVFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("GOVFLOW_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("GOVFLOW_SMTP_FROM", "govflow@district.gov.cn")
    yield handler
    controller.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def with_email(engine, username, email):
    with engine.unit_of_work() as uow:
        directory.put_user(uow.session, {"username": username, "email": email})


def test_a_new_task_and_an_urge_are_mailed_to_people_with_an_address(engine, smtp):
    with_email(engine, MAYOR, "mayor@district.gov.cn")
    instance_id = start(engine)
    complete(engine, instance_id, "register", CLERK, REGISTER)
    engine.urge(instance_id, CLERK, "请尽快批示")
    subjects = [(m["To"], m["Subject"]) for m in smtp.messages]
    assert subjects == [("mayor@district.gov.cn", "[GovFlow] 新待办"), ("mayor@district.gov.cn", "[GovFlow] 催办")]
    assert "请尽快批示" in smtp.messages[1].get_content()
    assert engine.counts(MAYOR)["notifications_unread"] == 2


def test_nothing_is_mailed_when_smtp_is_not_configured_or_down(engine, monkeypatch):
    with_email(engine, MAYOR, "mayor@district.gov.cn")
    monkeypatch.setenv("GOVFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("GOVFLOW_SMTP_PORT", str(_free_port()))  # nobody listens there
    instance_id = start(engine)
    complete(engine, instance_id, "register", CLERK, REGISTER)
    assert open_task(engine, instance_id, "mayor_review")["assignee"] == MAYOR
    assert [n["kind"] for n in engine.notifications(MAYOR)] == ["new_task"]
