"""directory: districts with the procedure variant each uses, the district of a department, AB-role partners

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('districts',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('variants', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key'),
    sa.UniqueConstraint('name')
    )
    _add_reference('departments', 'district_key', 'districts', 'key', 'fk_departments_district_key')
    _add_reference('users', 'ab_partner', 'users', 'username', 'fk_users_ab_partner')


def downgrade() -> None:
    _drop_column('users', 'ab_partner')
    _drop_column('departments', 'district_key')
    op.drop_table('districts')


# SQLite can neither add nor drop a constraint in place, and a batch copy of the table would drop the old one,
# whose implicit DELETE cascades to the rows that reference it (user_roles). So on SQLite the column is added
# with its REFERENCES clause and dropped with plain ALTER TABLE (SQLite >= 3.35); PostgreSQL names the key.

def _add_reference(table: str, column: str, target: str, target_column: str, name: str) -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(f'ALTER TABLE {table} ADD COLUMN {column} VARCHAR(64) REFERENCES {target} ({target_column})')
    else:
        op.add_column(table, sa.Column(column, sa.String(length=64), nullable=True))
        op.create_foreign_key(name, table, target, [column], [target_column])


def _drop_column(table: str, column: str) -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
    else:
        op.drop_column(table, column)
