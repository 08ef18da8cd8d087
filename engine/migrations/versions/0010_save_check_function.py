"""instances: PostgreSQL refuses a step saved over a stale lock version itself (SQL function
govflow_expect_saved), so a command need not wait for the row count before COMMIT

SQLite has no round trips to save: store.save checks the row count there, and nothing is created.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 10:00:00.000000
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# Raised as integrity_constraint_violation, which the engine reports as a conflict like any other.
CREATE = """CREATE FUNCTION govflow_expect_saved(saved bigint) RETURNS void
LANGUAGE plpgsql
AS $$ BEGIN
  IF saved <> 1 THEN
    RAISE EXCEPTION 'the instance was changed by another command (lock version moved on)'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
END $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION govflow_expect_saved(bigint)')
