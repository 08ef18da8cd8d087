"""Files kept with an instance (the draft text, supporting documents), every version kept; who may see them
is who may see the instance (engine.access)."""
from __future__ import annotations

import hashlib

from sqlalchemy import func, insert, select

from . import audit
from .access import check_may_see
from .clock import local_iso
from .errors import InvalidInput, NotFound
from .models import Attachment

MAX_BYTES = 20 * 1024 * 1024
_COLUMNS = (Attachment.id, Attachment.instance_id, Attachment.name, Attachment.version, Attachment.size,
            Attachment.sha256, Attachment.note, Attachment.uploaded_by, Attachment.uploaded_at)
def attach(conn, instance_id: int, actor: str, name: str, content: bytes, note: str, now) -> dict:
    check_may_see(conn, instance_id, actor, now, record_view=False)
    name = name.strip()
    if not name or len(name) > 256 or "/" in name or "\\" in name:
        raise InvalidInput(f"文件名不对 / not a usable file name: {name!r}")
    if len(content) > MAX_BYTES:
        raise InvalidInput(f"文件太大 / the file has {len(content)} bytes; at most {MAX_BYTES}")
    version = (conn.scalar(select(func.max(Attachment.version))
                           .where(Attachment.instance_id == instance_id, Attachment.name == name)) or 0) + 1
    digest = hashlib.sha256(content).hexdigest()
    attachment_id = conn.execute(insert(Attachment).returning(Attachment.id), {
        "instance_id": instance_id, "name": name, "version": version, "content": content, "size": len(content),
        "sha256": digest, "note": note, "uploaded_by": actor, "uploaded_at": now}).scalar_one()
    audit.record(conn, action="attach", actor=actor, at=now, instance_id=instance_id,
                 data={"attachment": attachment_id, "name": name, "version": version, "size": len(content),
                       "sha256": digest, "note": note})
    return listing(conn, instance_id, attachment_id)[0]


def listing(conn, instance_id: int, attachment_id: int | None = None) -> list[dict]:
    query = select(*_COLUMNS).where(Attachment.instance_id == instance_id)
    if attachment_id is not None:
        query = query.where(Attachment.id == attachment_id)
    rows = conn.execute(query.order_by(Attachment.name, Attachment.version)).all()
    return [{"id": r.id, "instance": r.instance_id, "name": r.name, "version": r.version, "size": r.size,
             "sha256": r.sha256, "note": r.note, "uploaded_by": r.uploaded_by,
             "uploaded_at": local_iso(r.uploaded_at)} for r in rows]


def content_of(conn, attachment_id: int) -> tuple[int, bytes]:
    row = conn.execute(select(Attachment.instance_id, Attachment.content)
                       .where(Attachment.id == attachment_id)).one_or_none()
    if row is None:
        raise NotFound(f"没有这个附件 / no attachment {attachment_id}")
    return row.instance_id, row.content
