"""duty roster; task index: done_at and assigned_by

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('duty_roster',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('role_key', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.String(length=256), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['role_key'], ['roles.key'], ),
    sa.ForeignKeyConstraint(['username'], ['users.username'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('duty_roster', schema=None) as batch_op:
        batch_op.create_index('ix_duty_roster_role_span', ['role_key', 'starts_at', 'ends_at'], unique=False)

    with op.batch_alter_table('task_index', schema=None) as batch_op:
        batch_op.add_column(sa.Column('done_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('assigned_by', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('task_index', schema=None) as batch_op:
        batch_op.drop_column('assigned_by')
        batch_op.drop_column('done_at')

    with op.batch_alter_table('duty_roster', schema=None) as batch_op:
        batch_op.drop_index('ix_duty_roster_role_span')

    op.drop_table('duty_roster')
