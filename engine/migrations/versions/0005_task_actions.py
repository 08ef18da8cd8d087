"""task actions: rounds, hand-on queue and draft on tasks; copies, notifications, comments, API tokens

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 12:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

OPEN = sa.text("state = 'open'")


def upgrade() -> None:
    # 0001 left the unique constraint unnamed: SQLite's batch copy names it by convention to drop it.
    with op.batch_alter_table('task_index', naming_convention={"uq": "%(table_name)s_%(column_0_name)s_key"}) as batch_op:
        batch_op.drop_constraint('task_index_spiff_task_id_key', type_='unique')
        batch_op.add_column(sa.Column('due_unit', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('sent_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('round', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('queue', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
        batch_op.add_column(sa.Column('hops', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
        batch_op.add_column(sa.Column('draft', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('overdue_notified_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=256), nullable=True))
    op.create_index('uq_task_index_open_spiff_task', 'task_index', ['spiff_task_id'], unique=True,
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index('ix_task_index_spiff_task', 'task_index', ['spiff_task_id'])
    op.create_index('ix_task_index_open_due', 'task_index', ['state', 'due_at'])

    op.create_table('copies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('sent_by', sa.String(length=64), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.String(length=512), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recipient'], ['users.username']),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_copies_instance_id', 'copies', ['instance_id'])
    op.create_index('ix_copies_recipient_sent', 'copies', ['recipient', 'sent_at'])
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('message', sa.String(length=512), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_notifications_user_read', 'notifications', ['username', 'read_at', 'id'])
    op.create_table('comments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['instances.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_comments_instance_id', 'comments', ['instance_id'])
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['username'], ['users.username'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_sha256')
    )
    op.create_index('ix_api_tokens_username', 'api_tokens', ['username'])


def downgrade() -> None:
    op.drop_table('api_tokens')
    op.drop_table('comments')
    op.drop_table('notifications')
    op.drop_table('copies')
    op.drop_index('ix_task_index_open_due', 'task_index')
    op.drop_index('ix_task_index_spiff_task', 'task_index')
    op.drop_index('uq_task_index_open_spiff_task', 'task_index')
    with op.batch_alter_table('task_index') as batch_op:
        for column in ('overdue_notified_at', 'draft', 'hops', 'queue', 'round', 'sent_by', 'due_unit'):
            batch_op.drop_column(column)
        batch_op.create_unique_constraint('task_index_spiff_task_id_key', ['spiff_task_id'])
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('email')
