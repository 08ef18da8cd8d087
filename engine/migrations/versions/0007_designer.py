"""designers: a change note on each definition version, and drafts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 14:00:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('definition_versions') as batch_op:
        batch_op.add_column(sa.Column('note', sa.String(length=512), server_default='', nullable=False))
    op.create_table('drafts',
    sa.Column('process_key', sa.String(length=128), nullable=False),
    sa.Column('source_xml', sa.Text(), nullable=False),
    sa.Column('dmn_sources', sa.JSON(), nullable=False),
    sa.Column('forms', sa.JSON(), nullable=False),
    sa.Column('base_version', sa.Integer(), nullable=True),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('process_key')
    )


def downgrade() -> None:
    op.drop_table('drafts')
    with op.batch_alter_table('definition_versions') as batch_op:
        batch_op.drop_column('note')
