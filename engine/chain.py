"""One link of the audit trail's hash chains, the same in Python and in the database.

SHA-256 over the previous link (empty at the start of a chain), a newline, and the event's canonical
content, as lower-case hex. The database computes it while appending (SQL function ``govflow_chain``:
registered on every SQLite connection from here, created on PostgreSQL by migration 0009), so an
append needs no read of the last link first; ``engine.audit.verify`` recomputes it here.
"""
from __future__ import annotations

import hashlib

SQL_FUNCTION = "govflow_chain"


def link(previous: str | None, content: str) -> str:
    return hashlib.sha256(f"{previous or ''}\n{content}".encode("utf-8")).hexdigest()
