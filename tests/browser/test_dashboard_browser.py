"""A supervisor's morning in a real browser: sign in, filter the tickets, open one, download the ledger."""

from __future__ import annotations

import time
from pathlib import Path

from openpyxl import load_workbook
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from services.ledger import HEADERS
from services.runtime import Runtime
from tests.browser.conftest import Browser
from tests.dashboard_seed import (
    ANONYMOUS_NUMBER,
    CLOSED_NUMBER,
    CLOSING_RESULT,
    DISCIPLINE_NUMBER,
    OVERDUE_NUMBER,
    PASSWORD,
    ROUTINE,
    seed_dashboard,
)

DOWNLOAD_WAIT_SECONDS = 30
PAGE_WAIT_SECONDS = 15


def click_to_next_page(browser: Browser, element_id: str) -> None:
    """Clicks and waits until the browser has loaded the next page."""
    mark_page(browser)
    browser.driver.find_element(By.ID, element_id).click()
    wait_for_next_page(browser)


def mark_page(browser: Browser) -> None:
    browser.driver.execute_script("document.documentElement.dataset.left = 'not yet'")


def wait_for_next_page(browser: Browser) -> None:
    """Waits until the marked page is gone and its successor has loaded.

    Not staleness_of(element): while a page is being replaced Chromium may answer a question about
    the old element with "Node with given id does not belong to the document" instead of saying it
    is stale, so every WebDriver error during the wait just means "look again".
    """
    WebDriverWait(browser.driver, PAGE_WAIT_SECONDS, ignored_exceptions=(WebDriverException,)).until(
        lambda driver: driver.execute_script(
            "return document.readyState === 'complete' && !('left' in document.documentElement.dataset)"
        )
    )


def text_of(browser: Browser, css: str) -> str:
    return browser.driver.find_element(By.CSS_SELECTOR, css).text


def listed_numbers(browser: Browser) -> set[str]:
    return {link.text for link in browser.driver.find_elements(By.CSS_SELECTOR, "a.ticket-link")}


def fill_login(browser: Browser, username: str, password: str) -> None:
    driver = browser.driver
    driver.find_element(By.ID, "username").clear()
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    click_to_next_page(browser, "login")


def filter_tickets(browser: Browser, state: str = "", text: str = "") -> None:
    driver = browser.driver
    Select(driver.find_element(By.ID, "state")).select_by_value(state)
    search = driver.find_element(By.ID, "q")
    search.clear()
    search.send_keys(text)
    click_to_next_page(browser, "filter")


def chart_drawn(browser: Browser) -> bool:
    return bool(browser.driver.execute_script(
        "const img = document.getElementById('trend-chart'); return img.complete && img.naturalWidth > 0;"
    ))


def wait_for_download(folder: Path, suffix: str) -> Path:
    """The finished file (Chromium writes *.crdownload until done); fails after DOWNLOAD_WAIT_SECONDS."""
    deadline = time.monotonic() + DOWNLOAD_WAIT_SECONDS
    while time.monotonic() < deadline:
        done = [path for path in folder.iterdir() if path.suffix == suffix]
        if done and not any(path.suffix == ".crdownload" for path in folder.iterdir()):
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no {suffix} file downloaded into {folder}: {list(folder.iterdir())}")


async def test_a_supervisor_signs_in_filters_opens_a_ticket_and_downloads_the_ledger(runtime: Runtime, browser: Browser) -> None:
    await seed_dashboard(runtime)

    await browser.open("/dashboard/tickets")
    assert "/dashboard/login" in browser.driver.current_url
    await browser.screenshot("01-login")
    await browser.run(fill_login, browser, "boss", "not-the-password")
    assert "用户名或密码不正确" in await browser.run(text_of, browser, "#problem")

    await browser.run(fill_login, browser, "boss", PASSWORD)
    assert browser.driver.current_url.endswith("/dashboard/tickets")  # back where the browser was going
    await browser.open("/dashboard/")
    assert await browser.run(text_of, browser, "#received") == str(ROUTINE + 5)
    assert await browser.run(text_of, browser, "#overdue-count") == "1"
    assert await browser.run(chart_drawn, browser)
    await browser.screenshot("02-overview")

    await browser.open("/dashboard/tickets")
    await browser.run(filter_tickets, browser, "overdue")
    assert await browser.run(listed_numbers, browser) == {OVERDUE_NUMBER}
    await browser.run(filter_tickets, browser, "", "身份证")
    assert await browser.run(listed_numbers, browser) == {ANONYMOUS_NUMBER}
    await browser.run(filter_tickets, browser, "closed", CLOSED_NUMBER)
    assert await browser.run(listed_numbers, browser) == {CLOSED_NUMBER}
    await browser.screenshot("03-tickets-filtered")

    await browser.run(mark_page, browser)
    await browser.run(lambda: browser.driver.find_element(By.LINK_TEXT, CLOSED_NUMBER).click())
    await browser.run(wait_for_next_page, browser)
    assert CLOSED_NUMBER in await browser.run(text_of, browser, "#ticket-number")
    assert CLOSING_RESULT in await browser.run(text_of, browser, "#ticket-result")
    timeline = await browser.run(text_of, browser, "#timeline")
    assert "签收" in timeline and "办结" in timeline
    await browser.screenshot("04-ticket")

    await browser.open("/dashboard/ledger")
    await browser.run(lambda: Select(browser.driver.find_element(By.ID, "ledger-period")).select_by_value("2026-11"))
    await browser.run(lambda: browser.driver.find_element(By.ID, "download").click())
    await browser.screenshot("05-ledger")
    ledger = await browser.run(wait_for_download, browser.downloads, ".xlsx")
    rows = list(load_workbook(ledger).worksheets[0].iter_rows(values_only=True))
    assert list(rows[0]) == list(HEADERS)
    numbers = {row[0] for row in rows[1:]}
    assert {CLOSED_NUMBER, DISCIPLINE_NUMBER, OVERDUE_NUMBER} <= numbers and len(numbers) == ROUTINE + 5

    await browser.run(click_to_next_page, browser, "logout")
    await browser.open("/dashboard/")
    assert "/dashboard/login" in browser.driver.current_url


async def test_a_business_head_never_sees_the_report_about_their_department(runtime: Runtime, browser: Browser) -> None:
    await seed_dashboard(runtime)
    await browser.open("/dashboard/login")
    await browser.run(fill_login, browser, "bizhead", PASSWORD)
    await browser.open("/dashboard/tickets?q=KM-2026112")
    listed = await browser.run(listed_numbers, browser)
    assert ANONYMOUS_NUMBER in listed and DISCIPLINE_NUMBER not in listed
    await browser.open(f"/dashboard/tickets/{DISCIPLINE_NUMBER}")
    assert "没有找到工单" in await browser.run(text_of, browser, "h1")
    await browser.screenshot("06-head-refused")
