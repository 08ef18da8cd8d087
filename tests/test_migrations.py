"""The Alembic migrations build exactly the schema the models describe, on both databases."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.db import connect
from engine.models import Base


def test_migrations_match_the_models(database_url):
    engine = connect(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_the_districts_migration_keeps_the_directory_it_upgrades_and_comes_back_down(database_url):
    """0008 adds districts, a department's district and AB-role partners in place: the users, their roles (which
    cascade when a users table is copied and dropped) and the departments survive, down to 0007 and up again."""
    from alembic import command
    from sqlalchemy import text

    from engine.db import alembic_config

    engine = connect(database_url)
    config = alembic_config(engine)
    try:
        command.downgrade(config, "0007")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO departments (key, name) VALUES ('civil_affairs', '区民政局')"))
            conn.execute(text("INSERT INTO roles (key, name_zh, name_en, department_scoped) "
                              "VALUES ('dept_head', '部门主要负责人', 'Department head', true)"))
            conn.execute(text("INSERT INTO users (username, display_name, department_key, active) "
                              "VALUES ('liu_civil', '刘洋', 'civil_affairs', true)"))
            conn.execute(text("INSERT INTO user_roles (username, role_key, department_key) "
                              "VALUES ('liu_civil', 'dept_head', 'civil_affairs')"))
    finally:
        command.upgrade(config, "head")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT username, role_key FROM user_roles")).all() == [("liu_civil", "dept_head")]
        assert conn.execute(text("SELECT key, district_key FROM departments")).all() == [("civil_affairs", None)]
        assert conn.execute(text("SELECT ab_partner FROM users")).scalar_one() is None
    engine.dispose()
