"""The admins' directory page in a real browser (the set-up of tests/browser.py, on its own site so the edits here
touch no other module's tests): add a department and move it to another district, see a department still in use
refused with the reason next to it, choose another variant for the home district (the start page follows), and
pair two vice-mayors as AB-role partners. Screenshot: tests/artifacts/admin_directory.png."""
from __future__ import annotations

import re

import pytest

from engine.directory_admin import DirectoryAdmin

from . import browser as shared
from .browser import browser_fixture, expect, requires_chromium, shot  # noqa: F401  (browser_fixture: a fixture)

pytestmark = requires_chromium


@pytest.fixture(scope="module")
def site(sqlite_template, tmp_path_factory):
    with shared.served(sqlite_template, tmp_path_factory.mktemp("browser_directory")) as served:
        yield served


def test_departments_a_districts_variant_and_an_ab_pair_are_edited_on_the_directory_page(browser, site):
    engine = site.engine
    context, page = shared.signed_in_page(browser, site, "admin", viewport=(1440, 1000))
    page.goto("/admin/directory")

    # a new department in Xicheng, then renamed and moved to Fangshan in its row
    page.fill("#department-key", "sports")
    page.fill("#department-name", "区体育局")
    page.select_option("#department-district", "xicheng")
    page.click("#department-add")
    expect(page.locator(".flash-success")).to_contain_text("已保存部门 sports")
    expect(page.locator("#department-sports-district option:checked")).to_have_text("北京市西城区")
    page.fill("#department-sports-name", "区文化和旅游局")
    page.select_option("#department-sports-district", "fangshan")
    page.click("#department-sports-save")
    expect(page).to_have_url(re.compile(r"/admin/directory#departments$"))
    assert {"key": "sports", "name": "区文化和旅游局", "district": "fangshan"} in DirectoryAdmin(engine).departments()

    # a department people still work in cannot go; the reason is shown in its row
    page.click("#department-civil_affairs-remove")
    expect(page.locator("#department-civil_affairs-error")).to_contain_text("仍在使用，不能删除")
    expect(page.locator("#department-civil_affairs-error")).to_contain_text("liu_civil")
    page.click("#department-sports-remove")
    expect(page.locator("[data-department='sports']")).to_have_count(0)

    # Fangshan takes Jinghai's overseas-travel procedure: liu_civil is offered that one now
    page.select_option("#district-fangshan-overseas_travel", "overseas_travel.jinghai")
    page.click("#district-fangshan-save")
    expect(page.locator(".flash-success")).to_contain_text("已保存区 fangshan")
    expect(page.locator("#district-fangshan-overseas_travel option:checked")).to_have_text("overseas_travel.jinghai")
    offered = {p["key"] for p in engine.startable("liu_civil")}
    assert "overseas_travel.jinghai" in offered and "overseas_travel.fangshan" not in offered

    # 李卫东 and 赵红梅 become AB-role partners; 孙志强 is released
    expect(page.locator("#partner-pairs [data-pair='sun_vice-zhao_vice']")).to_have_count(1)
    page.select_option("#partner-user", "li_exec")
    page.select_option("#partner-partner", "zhao_vice")
    page.click("#partner-save")
    expect(page.locator("#partner-pairs [data-pair='li_exec-zhao_vice']")).to_have_count(1)
    expect(page.locator("#partner-pairs [data-pair='sun_vice-zhao_vice']")).to_have_count(0)
    expect(page.locator("#users [data-user='sun_vice'] .ab-partner")).to_have_text("")
    shot(page, "admin_directory.png")
    context.close()
