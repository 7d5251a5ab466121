"""report.html in a real headless Chromium: it loads offline, logs no console error, and the top
ring is on screen with its drawing. Needs /usr/bin/chromium and /usr/bin/chromedriver
(`make browser` installs them from apt)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from abusenet.report import build_report
from tests.abusenet.test_report import make_report_data

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,2000")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                       reason="headless Chromium missing: run `make browser`"),
]


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="abusenet-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_report_loads_without_console_errors_and_shows_the_top_ring(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    path = build_report(make_report_data(), tmp_path / "report.html")
    browser.get(path.resolve().as_uri())
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")

    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors

    top = browser.find_element(By.ID, "ring-1")
    browser.execute_script("arguments[0].scrollIntoView();", top)
    assert top.is_displayed()
    assert top.get_attribute("data-ring-id") == "r1"
    assert "r1" in top.text and "score 0.910" in top.text and "Device:d1" in top.text
    drawing = top.find_element(By.CSS_SELECTOR, "svg.ring-drawing")
    assert drawing.is_displayed() and drawing.size["width"] > 100
    assert len(drawing.find_elements(By.CSS_SELECTOR, "circle.account")) == 4

    charts = browser.find_elements(By.CSS_SELECTOR, ".charts img")
    assert charts and all(
        browser.execute_script("return arguments[0].naturalWidth", img) > 0 for img in charts
    ), "a chart image failed to decode"


def test_sorting_a_table_by_clicking_its_header_works(browser, tmp_path):
    from selenium.webdriver.common.by import By

    path = build_report(make_report_data(), tmp_path / "report.html")
    browser.get(path.resolve().as_uri())
    table = browser.find_element(By.ID, "ring-table")
    score_header = table.find_elements(By.TAG_NAME, "th")[2]
    score_header.click()
    scores = [float(r.find_elements(By.TAG_NAME, "td")[2].text)
              for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert scores == sorted(scores)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
