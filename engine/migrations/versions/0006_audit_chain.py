"""audit events in hash chains (global and per instance), and append-only in the database

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 13:00:00.000000
"""
from alembic import op
import sqlalchemy as sa

from engine.audit import chain_hash

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

REFUSE = "audit events are append-only: UPDATE and DELETE are refused"
SQLITE_TRIGGERS = [f"""CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events
BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END""" for verb in ("UPDATE", "DELETE")]
POSTGRES_TRIGGER = [f"""CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '{REFUSE}'; END $$""",
                    """CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"""]


def upgrade() -> None:
    with op.batch_alter_table('audit_events') as batch_op:
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('instance_hash', sa.String(length=64), nullable=True))
    _chain_existing_events()
    with op.batch_alter_table('audit_events') as batch_op:
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_TRIGGERS if sqlite else POSTGRES_TRIGGER:
        op.execute(statement)


def _chain_existing_events() -> None:
    """Events written before this migration join the chains in id order."""
    conn = op.get_bind()
    events = sa.table('audit_events', sa.column('id', sa.Integer), sa.column('instance_id', sa.Integer),
                      sa.column('task_id', sa.Integer), sa.column('actor', sa.String),
                      sa.column('on_behalf_of', sa.String), sa.column('at', sa.DateTime(timezone=True)),
                      sa.column('action', sa.String), sa.column('data', sa.JSON),
                      sa.column('hash', sa.String), sa.column('instance_hash', sa.String))
    previous, by_instance = "", {}
    from engine.models import UtcDateTime
    as_utc = UtcDateTime().process_result_value
    for row in conn.execute(sa.select(events).order_by(events.c.id)).mappings().all():
        event = {**row, "at": as_utc(row["at"], conn.dialect)}
        previous = chain_hash(previous, event)
        values = {"hash": previous}
        if row["instance_id"] is not None:
            by_instance[row["instance_id"]] = chain_hash(by_instance.get(row["instance_id"], ""), event)
            values["instance_hash"] = by_instance[row["instance_id"]]
        conn.execute(events.update().where(events.c.id == row["id"]).values(**values))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("DROP TRIGGER audit_events_no_delete")
    else:
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    with op.batch_alter_table('audit_events') as batch_op:
        batch_op.drop_column('instance_hash')
        batch_op.drop_column('hash')
