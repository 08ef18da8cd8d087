"""audit chain: PostgreSQL computes each link as an event is appended (SQL function govflow_chain)

SQLite gets the same function from engine.chain on every connection (engine/db.py), so there is nothing
to create there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 10:00:00.000000
"""
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# engine.chain.link: SHA-256 of the previous link (empty at a chain's start), a newline and the content, in hex.
CREATE = """CREATE FUNCTION govflow_chain(previous text, content text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT encode(sha256(convert_to(coalesce(previous, '') || chr(10) || content, 'UTF8')), 'hex') $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION govflow_chain(text, text)')
