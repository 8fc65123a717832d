"""The padding explorer in a real browser: Debian's chromium and chromedriver,
driven by selenium with an explicit driver path (nothing is downloaded).
Skipped where chromium, chromedriver or selenium is missing.

Screenshots go to the test's temporary folder, or to $NPCONV_SCREENSHOTS."""

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from npconv.cli.main import main  # noqa: E402
from npconv.explain.serve import ExplorerServer  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None
)
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver")


@pytest.fixture(scope="module")
def server():
    server = ExplorerServer("127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("NPCONV_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def text_of(driver, element_id):
    """The element's text; found again if the page redrew it between finding and reading."""
    for _ in range(20):
        try:
            return driver.find_element(By.ID, element_id).text
        except StaleElementReferenceException:
            time.sleep(0.05)
    return driver.find_element(By.ID, element_id).text


def wait_for(driver, element_id, expected, timeout=15):
    """Wait until the element shows ``expected``; fail with what it shows."""
    try:
        WebDriverWait(driver, timeout).until(lambda d: text_of(d, element_id) == expected)
    except Exception:
        pytest.fail(f"#{element_id} shows {text_of(driver, element_id)!r}, expected {expected!r}")


def wait_answered(driver, timeout=15, **params):
    """Wait until the page shows the answer for these options (the query it last got an answer to)."""
    from urllib.parse import parse_qs

    def answered(d):
        query = parse_qs(d.find_element(By.TAG_NAME, "body").get_attribute("data-answered") or "")
        return all(query.get(key.replace("_", "-")) == [str(value)] for key, value in params.items())

    try:
        WebDriverWait(driver, timeout).until(answered)
    except Exception:
        pytest.fail(
            f"no answer for {params}: {driver.find_element(By.TAG_NAME, 'body').get_attribute('data-answered')}"
        )


def type_into(driver, element_id, value):
    field = driver.find_element(By.ID, element_id)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(value)


def test_the_articles_case_then_6x6_then_the_transposed_case(server, browser, shots):
    browser.get(server.url)
    WebDriverWait(browser, 15).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state"))
    Select(browser.find_element(By.ID, "layer")).select_by_value("conv2d")
    type_into(browser, "input", "5x5")
    type_into(browser, "kernel", "3")
    type_into(browser, "strides", "2")
    Select(browser.find_element(By.ID, "padding-choice")).select_by_value("same")
    wait_answered(browser, layer="conv2d", input="5x5", kernel=3, strides=2, padding="same")
    wait_for(browser, "summary", "Conv2D: input (5, 5) → output (3, 3)")
    assert text_of(browser, "output-size") == "3x3"
    assert [text_of(browser, f"pads-{i}") for i in range(2)] == ["(1, 1)", "(1, 1)"]
    assert "floor((5 + 1 + 1 - 3) / 2) + 1 = 3" in text_of(browser, "why")
    assert browser.find_elements(By.CSS_SELECTOR, "#drawing svg rect.cell")  # the --svg renderer's picture
    assert "torch" in text_of(browser, "snippet")
    # step through the output positions by hand
    browser.find_element(By.ID, "step-play").click()
    browser.execute_script(
        "document.getElementById('step').value = 0; document.getElementById('step').dispatchEvent(new Event('input'))"
    )
    browser.find_element(By.ID, "step-next").click()
    assert text_of(browser, "step-label").startswith("output [0, 1]")
    visible = browser.find_elements(By.CSS_SELECTOR, "#drawing g[visibility='visible']")
    assert len(visible) == 1
    browser.save_screenshot(str(shots / "explorer-5x5.png"))

    type_into(browser, "input", "6x6")
    wait_answered(browser, layer="conv2d", input="6x6", kernel=3, strides=2, padding="same")
    wait_for(browser, "summary", "Conv2D: input (6, 6) → output (3, 3)")
    assert [text_of(browser, f"pads-{i}") for i in range(2)] == ["(0, 1)", "(0, 1)"]
    article = text_of(browser, "article")
    assert "Conv2D same, top/left pad" in article and "1, 1 ✗" in article  # the article's floor((k-1)/2)
    browser.save_screenshot(str(shots / "explorer-6x6.png"))

    Select(browser.find_element(By.ID, "layer")).select_by_value("conv2dtranspose")
    type_into(browser, "input", "5")
    type_into(browser, "kernel", "2")
    type_into(browser, "strides", "3")
    Select(browser.find_element(By.ID, "padding-choice")).select_by_value("valid")
    wait_answered(browser, layer="conv2dtranspose", input=5, kernel=2, strides=3, padding="valid")
    wait_for(browser, "summary", "Conv2DTranspose: input (5, 5) → output (15, 15)")
    assert text_of(browser, "output-size") == "15x15"
    row = browser.find_element(By.CSS_SELECTOR, "#article-table tr.wrong").text
    assert "(n - 1)*s + k" in row and "14, 14 ✗" in row and row.endswith("15, 15")
    browser.save_screenshot(str(shots / "explorer-transpose.png"))


def test_an_invalid_combination_shows_npconvs_message_by_the_control(server, browser, shots):
    browser.get(server.url + "?layer=conv2d&input=5x5&kernel=3&strides=2&padding=same")
    wait_for(browser, "output-size", "3x3")
    Select(browser.find_element(By.ID, "padding-choice")).select_by_value("causal")
    message = "'causal' padding exists only for 1D layers"
    WebDriverWait(browser, 15).until(
        lambda d: message in d.find_element(By.CSS_SELECTOR, '.control[data-param="padding"] .error').text
    )
    assert "stale" in browser.find_element(By.ID, "result").get_attribute("class")
    type_into(browser, "kernel", "x")
    WebDriverWait(browser, 15).until(
        lambda d: (
            "argument --kernel: expected a size"
            in d.find_element(By.CSS_SELECTOR, '.control[data-param="kernel"] .error').text
        )
    )
    browser.save_screenshot(str(shots / "explorer-error.png"))
    type_into(browser, "kernel", "3")
    Select(browser.find_element(By.ID, "padding-choice")).select_by_value("valid")
    wait_answered(browser, layer="conv2d", input="5x5", kernel=3, strides=2, padding="valid")
    wait_for(browser, "output-size", "2x2")  # floor((5 - 3) / 2) + 1 = 2: the page recovers
    assert browser.find_element(By.CSS_SELECTOR, '.control[data-param="kernel"] .error').text == ""


def test_the_html_export_works_from_a_file(browser, tmp_path, shots, capsys):
    out = tmp_path / "page.html"
    argv = ["explain", "conv1dtranspose", "--input", "5", "--kernel", "2", "--strides", "3", "--html", str(out)]
    assert main(argv) == 0
    browser.get(out.as_uri())
    wait_for(browser, "output-size", "15")
    # zero-inserted input (5 - 1)*3 + 1 = 13 cells, padded (k - 1, ...) = (1, 2): 13 + 1 + 2 - 2 + 1 = 15
    assert text_of(browser, "pads-0") == "(1, 2)"
    assert not browser.find_element(By.ID, "static-note").get_attribute("hidden")
    assert browser.find_element(By.ID, "input").get_attribute("value") == "5"
    browser.save_screenshot(str(shots / "explorer-static.png"))


@pytest.mark.parametrize(
    "query, output",
    [
        ("layer=conv3d&input=4x5x6&kernel=3&strides=2&padding=same", "2x3x3"),
        ("layer=conv1d&input=7&kernel=3&dilation=2&padding=causal", "7"),
        ("layer=conv2d&input=%3Fx5&kernel=3", "Nonex3"),  # an unknown height: nothing to draw, the rest shown
        ("layer=depthwiseconv2d&input=6&kernel=3&padding=1:2,0:0&padding-mode=reflect", "7x4"),
        ("layer=conv2dtranspose&input=3&kernel=3&strides=2&padding=same&output-shape=5x6", "5x6"),
        ("layer=conv1d&input=200&kernel=3", "198"),  # too many positions to animate or draw here
    ],
)
def test_every_kind_of_answer_renders_without_a_script_error(server, browser, shots, query, output):
    browser.get_log("browser")  # drop what earlier tests logged
    browser.get(server.url + "?" + query)
    wait_for(browser, "output-size", output)
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    browser.save_screenshot(str(shots / f"explorer-{query.split('&')[0][6:]}-{output}.png"))
