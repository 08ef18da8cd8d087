"""Files kept with an instance, every version, and who may see them (classified: only people with a task on
it and auditors, each view recorded)."""
import json

import pytest

from engine.errors import Forbidden, InvalidInput

from .helpers import FIXTURES, deploy, open_task


def filed(engine, classification: str) -> int:
    deploy(engine, "classified_doc")
    return engine.start("classified_doc", "liu_civil", {"title": "关于养老服务补贴的请示",
                                                         "classification": classification})["instance"]


def test_every_version_of_a_file_is_kept_and_shown_with_the_instance(engine):
    instance_id = filed(engine, "无")
    first = engine.attach(instance_id, "liu_civil", "请示正文.docx", b"draft one")
    second = engine.attach(instance_id, "liu_civil", "请示正文.docx", b"draft two", note="按意见修改")
    engine.attach(instance_id, "liu_civil", "测算表.xlsx", b"figures")
    assert (first["version"], second["version"]) == (1, 2)
    listed = engine.attachments(instance_id, "wang_mayor")
    assert [(a["name"], a["version"]) for a in listed] == [("测算表.xlsx", 1), ("请示正文.docx", 1),
                                                          ("请示正文.docx", 2)]
    assert engine.download(first["id"], "wang_mayor")[1] == b"draft one"
    assert engine.download(second["id"], "wang_mayor") == (second, b"draft two")
    assert len(engine.show(instance_id)["attachments"]) == 3
    events = [e for e in engine.show(instance_id)["events"] if e["action"] == "attach"]
    assert [e["data"]["version"] for e in events] == [1, 2, 1] and "content" not in events[0]["data"]


def test_people_not_involved_cannot_see_or_add_files(engine):
    instance_id = filed(engine, "无")
    saved = engine.attach(instance_id, "liu_civil", "请示正文.docx", b"draft")
    for action in (lambda: engine.attachments(instance_id, "huang_edu"),
                   lambda: engine.download(saved["id"], "huang_edu"),
                   lambda: engine.attach(instance_id, "huang_edu", "x.txt", b"x")):
        with pytest.raises(Forbidden):
            action()
    with pytest.raises(InvalidInput):
        engine.attach(instance_id, "liu_civil", "../etc/passwd", b"x")


def test_a_classified_document_is_for_those_with_a_task_on_it_and_auditors_and_each_view_is_recorded(engine):
    instance_id = filed(engine, "机密")
    saved = engine.attach(instance_id, "liu_civil", "请示正文.docx", b"secret")
    assert engine.download(saved["id"], "wang_mayor")[1] == b"secret"  # the mayor has a task on it
    assert engine.show(instance_id, viewer="shen_auditor")["state"] == "running"
    for outsider in ("li_exec", "zheng_clerk"):
        with pytest.raises(Forbidden, match="classified"):
            engine.show(instance_id, viewer=outsider)
    views = [(e["actor"], e["data"]["classification"]) for e in engine.show(instance_id)["events"]
             if e["action"] == "view_classified"]
    assert views == [("wang_mayor", "机密"), ("shen_auditor", "机密")]
    engine.complete(open_task(engine, instance_id, "instruct")["id"], "wang_mayor", {})
    assert engine.attachments(instance_id, "wang_mayor")[0]["name"] == "请示正文.docx"  # had a task: still may


def test_files_through_the_cli(govflow, tmp_path):
    govflow("users", "load")
    govflow("deploy", str(FIXTURES / "classified_doc"))
    instance_id = govflow("start", "classified_doc", "--as", "liu_civil", "--data",
                          json.dumps({"title": "请示", "classification": "无"}))["instance"]
    source = tmp_path / "正文.txt"
    source.write_bytes("第一稿".encode())
    saved = govflow("attach", str(instance_id), str(source), "--as", "liu_civil", "--note", "初稿")
    assert (saved["name"], saved["version"], saved["size"]) == ("正文.txt", 1, 9)
    assert [a["id"] for a in govflow("attachments", str(instance_id), "--as", "wang_mayor")] == [saved["id"]]
    target = tmp_path / "copy.txt"
    govflow("download", str(saved["id"]), "--as", "wang_mayor", "-o", str(target))
    assert target.read_bytes() == "第一稿".encode()
    code, payload, err = govflow("attachments", str(instance_id), "--as", "huang_edu", ok=False)
    assert payload["error"] == "forbidden"
