"""Debian's Chromium driven by selenium through Debian's chromedriver, both paths given explicitly so that Selenium
Manager downloads nothing; headless, no sandbox (root), no background networking, a temporary profile.

Helpers read the browser's console log (a SEVERE entry fails the test), make every lazily drawn chart draw by
scrolling through the page, and report what each Plotly chart holds (`gd._fullData`, its data lengths, `.main-svg`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.servers import required_tool

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WIDTH, HEIGHT = 1366, 900
SCREENSHOTS_ENV = "MLMONITOR_SCREENSHOTS_DIR"


@contextlib.contextmanager
def chromium(tmp: Path) -> Iterator[webdriver.Chrome]:
    """A headless Chromium at 1366 x 900 with its console log readable."""
    binary = required_tool(CHROMIUM, package="chromium")
    driver_binary = required_tool(CHROMEDRIVER, package="chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--metrics-recording-only",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        f"--window-size={WIDTH},{HEIGHT}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=driver_binary, log_output=str(tmp / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """The SEVERE entries of the console log since the last read."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def page_open(driver: webdriver.Chrome, url: str) -> None:
    """Load a page, draw every chart on it, and fail on any console error."""
    driver.get(url)
    charts_draw(driver)
    errors = console_errors(driver)
    assert not errors, f"console errors on {url}: {errors}"


def charts_draw(driver: webdriver.Chrome, *, timeout: float = 30.0) -> None:
    """Scroll through the page so the IntersectionObserver draws every chart, then wait until all are drawn."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    for y in range(0, int(height) + HEIGHT, HEIGHT // 2):
        driver.execute_script("window.scrollTo(0, arguments[0])", y)
        time.sleep(0.05)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = driver.execute_script(
            "return Array.from(document.querySelectorAll('[data-figure]'))"
            ".filter(el => el.dataset.plotted !== 'true').map(el => el.dataset.figure)"
        )
        if not pending:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"charts not drawn within {timeout} s: {pending}")
    driver.execute_script("window.scrollTo(0, 0)")


def charts_state(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """For every chart element: its figure id, Plotly's trace count, the number of points per trace, whether an SVG
    root was drawn, and the chart's pixel size."""
    return driver.execute_script(
        """
        return Array.from(document.querySelectorAll('[data-figure]')).map(el => ({
            id: el.dataset.figure,
            traces: (el._fullData || []).length,
            points: (el._fullData || []).map(t => Math.max((t.x || []).length, (t.y || []).length)),
            svg: el.querySelector('.main-svg') !== null,
            width: el.getBoundingClientRect().width,
            height: el.getBoundingClientRect().height,
        }));
        """
    )


def assert_charts_have_data(driver: webdriver.Chrome, *, at_least: int) -> list[dict[str, Any]]:
    """Every chart on the page was drawn as SVG with at least one trace holding points; at least `at_least` charts."""
    charts = charts_state(driver)
    assert len(charts) >= at_least, f"{len(charts)} charts, expected at least {at_least}: {charts}"
    empty = [c for c in charts if not (c["svg"] and c["traces"] > 0 and max(c["points"], default=0) > 0)]
    assert not empty, f"charts without data: {empty}"
    flat = [c for c in charts if c["width"] < 40 or c["height"] < 10]
    assert not flat, f"charts drawn without size: {flat}"
    return charts


def assert_fits_width(driver: webdriver.Chrome) -> None:
    """Nothing on the page is wider than the 1366 px window (no horizontal scrolling of the page or of a table)."""
    overflow = driver.execute_script(
        """
        const page = document.documentElement.scrollWidth - document.documentElement.clientWidth;
        const tables = Array.from(document.querySelectorAll('.table-wrap'))
            .filter(el => el.scrollWidth > el.clientWidth + 1)
            .map(el => el.querySelector('table').dataset.test || 'table');
        return {page: page, tables: tables};
        """
    )
    assert overflow["page"] <= 0 and not overflow["tables"], f"wider than {WIDTH} px: {overflow}"


def screenshot(driver: webdriver.Chrome, name: str) -> Path | None:
    """A full-page PNG under MLMONITOR_SCREENSHOTS_DIR (when set), at 1366 px wide and at most 2400 px tall."""
    directory = os.environ.get(SCREENSHOTS_ENV)
    if not directory:
        return None
    path = Path(directory) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    height = min(int(driver.execute_script("return document.documentElement.scrollHeight")), 2400)
    driver.set_window_size(WIDTH, height)
    time.sleep(0.6)  # responsive charts redraw at the new size
    charts_draw(driver)
    driver.save_screenshot(str(path))
    driver.set_window_size(WIDTH, HEIGHT)
    return path


def text_of(driver: webdriver.Chrome, selector: str) -> str:
    """The visible text of the first element matching a CSS selector."""
    return driver.find_element(By.CSS_SELECTOR, selector).text


def page_left(element: Any) -> Any:
    """A wait condition: True once `element`'s page is gone (expected_conditions.staleness_of), also where
    chromedriver answers the check made mid-navigation with "unknown error: ... Node with given id does not belong
    to the document" instead of a stale-element error (seen in CI, Chromium 156)."""

    def gone(driver: Any) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    return gone


def log_in(driver: webdriver.Chrome, base_url: str, *, username: str, password: str, next_path: str = "/") -> None:
    """Log in through the dashboard's login form."""
    driver.get(base_url + next_path)
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(password)
    form = driver.find_element(By.CSS_SELECTOR, "main form")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 30).until(page_left(form))
    charts_draw(driver)


def click_and_wait(driver: webdriver.Chrome, selector: str) -> None:
    """Click an element that loads another page, and wait until the old page is gone."""
    element = driver.find_element(By.CSS_SELECTOR, selector)
    element.click()
    WebDriverWait(driver, 30).until(page_left(element))
