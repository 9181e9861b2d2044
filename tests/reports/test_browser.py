"""A real browser opens the generated site from disk (file://): matrix, drill-down, no console errors.

Needs Debian's `chromium` and `chromium-driver` and the `selenium` package; skipped without them (CI
installs them). Screenshots go to $OPTIMUM_CONFORMANCE_ARTIFACTS (default: the test's tmp dir).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from reports.model import load
from reports.render import render_site

from . import factory as f

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = (
    "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else shutil.which("chromedriver")
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="the selenium package is not installed")
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("OPTIMUM_CONFORMANCE_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def console_errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def wait(driver):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 30)


def no_alert(driver) -> bool:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        driver.switch_to.alert  # noqa: B018 (raises when there is none)
    except NoAlertPresentException:
        return True
    return False


def test_site_opens_from_disk_and_drills_down(browser, tmp_path: Path, artifacts: Path) -> None:
    from selenium.webdriver.common.by import By

    builder = f.run(backends=(("reference-ort", "0.1.0"), ("reference-ov", "0.1.0")))
    for backend in ("reference-ort", "reference-ov"):
        for arch in ("bert", "roberta"):
            builder.result(
                "parity.pytorch", backend=backend, arch=arch, metrics={"max_abs_err": 1e-6, "atol": 1e-4}
            )
            builder.result("load.local_dir", backend=backend, arch=arch, task="feature-extraction")
    builder.result(
        "parity.batch_padding",
        "crashed",
        backend="reference-ov",
        stage="infer",
        message='worker died <script>alert("x")</script>',
    )
    builder.result("push.single_commit", "unsupported", backend="reference-ov", level="strict")
    site = tmp_path / "site"
    render_site(load([f.write(tmp_path / "record.jsonl", builder.end())]), site)

    # The matrix cells are not in the pages: site.js places them from the rows' data scripts.
    for page in [site / "index.html", *(site / "tasks").glob("*.html")]:
        assert "core 66.6 %" not in page.read_text() and "core 100 %" not in page.read_text()
    browser.get((site / "index.html").as_uri() + "#tasks")
    assert browser.title.startswith("Compatibility matrix")
    rows = browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "th a").text for r in rows] == ["reference-ort", "reference-ov"]
    ov_cells = rows[1].find_elements(By.CSS_SELECTOR, "td.cell")  # all tasks, then one per task
    assert "core 100 %" in ov_cells[1].text  # feature-extraction
    # text-classification: 2 passed, 1 crashed, 1 unsupported (not scored, still shown).
    assert "core 66.6 %" in ov_cells[2].text and "☠1" in ov_cells[2].text and "\u22121" in ov_cells[2].text
    assert "c-p50" in ov_cells[2].get_attribute("class")
    # ▸ beside a task opens its backends x architectures.
    rows[1].find_element(By.XPATH, "ancestor::table//th[contains(., 'text-classification')]/a").click()
    wait(browser).until(lambda d: "/tasks/" in d.current_url)
    assert [h.text for h in browser.find_elements(By.CSS_SELECTOR, "th.arch")] == ["bert", "roberta"]
    task_rows = browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")
    task_cells = [
        [cell.text.splitlines()[0] for cell in row.find_elements(By.CSS_SELECTOR, "td.cell")]
        for row in task_rows
    ]  # all of text-classification, bert, roberta
    assert task_cells == [["core 100 %"] * 3, ["core 66.6 %", "core 50.0 %", "core 100 %"]]
    link = task_rows[1].find_elements(By.CSS_SELECTOR, "td.cell a")[1].get_attribute("href")
    assert "/b/reference-ov-" in link and link.endswith("#task=text-classification")
    assert console_errors(browser) == []
    browser.back()
    wait(browser).until(lambda d: d.current_url.endswith("index.html#tasks"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")
    ov_cells = rows[1].find_elements(By.CSS_SELECTOR, "td.cell")
    browser.find_element(By.CSS_SELECTOR, 'button[data-colour="strict"]').click()
    assert "by-strict" in browser.find_element(By.ID, "matrix").get_attribute("class")
    browser.save_screenshot(str(artifacts / "report-index.png"))
    assert console_errors(browser) == []

    # Matrix cell -> backend page filtered to that task -> the crashed test's drill-down.
    ov_cells[2].find_element(By.TAG_NAME, "a").click()
    wait(browser).until(
        lambda d: "/b/" in d.current_url and d.execute_script("return document.readyState") == "complete"
    )
    assert "reference-ov" in browser.find_element(By.TAG_NAME, "h1").text
    assert "#task=text-classification" in browser.current_url
    marks = browser.find_elements(By.CSS_SELECTOR, "a.m")
    visible = [m for m in marks if m.is_displayed()]
    assert visible and len(visible) < len(marks)  # feature-extraction marks are filtered out
    assert all(m.get_attribute("data-task") == "text-classification" for m in visible)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.clauses tbody tr:not(.family)")
    shown = [row.text.split()[0] for row in rows if row.is_displayed()]
    assert shown == [
        "parity.batch_padding",
        "parity.pytorch",
        "push.single_commit",
    ]  # load.* has no such test
    browser.save_screenshot(str(artifacts / "report-backend.png"))
    assert console_errors(browser) == []
    browser.find_element(By.CSS_SELECTOR, "a.m.o-crashed").click()
    wait(browser).until(
        lambda d: "/c/" in d.current_url and d.execute_script("return document.readyState") == "complete"
    )
    assert "parity.batch_padding" in browser.find_element(By.TAG_NAME, "h1").text
    anchor = browser.current_url.split("#")[1]
    result = browser.find_element(By.ID, anchor)  # the drill-down lands on the crashed result
    assert "crashed" in result.text and result.is_displayed()
    message = result.find_element(By.XPATH, "following-sibling::tr[1]//pre[@class='message']").text
    assert message == 'worker died <script>alert("x")</script>'  # shown as text, never run
    assert no_alert(browser)
    repro = browser.find_element(By.ID, f"p{anchor}").text
    assert repro.startswith("pytest --pyargs conformance --backend reference-ov")
    copy = browser.find_element(By.CSS_SELECTOR, f'button.copy[data-target="p{anchor}"]')
    copy.click()  # the clipboard answers asynchronously
    wait(browser).until(lambda _: copy.text in ("Copied", "Selected: press Ctrl+C"))
    browser.save_screenshot(str(artifacts / "report-drill-down.png"))
    assert console_errors(browser) == []

    for page in ("interop.html", "versions.html", "diff.html", "history.html"):
        browser.get((site / page).as_uri())
        assert console_errors(browser) == [], page
    run_page = next((site / "r").glob("*.html"))
    browser.get(run_page.as_uri())
    assert "avx2" in browser.page_source and console_errors(browser) == []


def test_generation_columns_sit_beside_the_encoder_ones(browser, tmp_path: Path, artifacts: Path) -> None:
    """A record with encoder and causal-LM results: the matrix has a text-generation column with its
    archs, and the backend page groups the gen.* results under Generation with their drill-down."""
    from selenium.webdriver.common.by import By

    builder = f.run(backends=(("optimum-ort", "0.1.0"),), tasks=["text-classification", "text-generation"])
    builder.result("parity.pytorch", backend="optimum-ort")
    for arch in ("gpt2", "llama"):
        builder.result("gen.greedy", backend="optimum-ort", task="text-generation", arch=arch)
        builder.result("parity.pytorch", backend="optimum-ort", task="text-generation", arch=arch)
    builder.result(
        "gen.threads", "failed", backend="optimum-ort", task="text-generation", arch="llama",
        stage="infer", message="7 of 160 calls differ from serial",
    )  # fmt: skip
    site = tmp_path / "site"
    render_site(load([f.write(tmp_path / "record.jsonl", builder.end())]), site)

    browser.get((site / "index.html").as_uri() + "#tasks")
    tasks = [h.text.strip("▸ ").strip() for h in browser.find_elements(By.CSS_SELECTOR, "th.task")]
    assert tasks[-2:] == ["text-classification", "text-generation"], tasks
    cells = browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")[0].find_elements(
        By.CSS_SELECTOR, "td.cell"
    )
    assert "core 80.0 %" in cells[2].text and "✗1" in cells[2].text  # 4 of 5 text-generation results passed
    browser.save_screenshot(str(artifacts / "report-generation-index.png"))
    browser.find_element(By.XPATH, "//th[contains(., 'text-generation')]/a").click()
    wait(browser).until(lambda d: "/tasks/" in d.current_url)
    assert [h.text for h in browser.find_elements(By.CSS_SELECTOR, "th.arch")] == ["gpt2", "llama"]
    assert console_errors(browser) == []
    browser.back()
    wait(browser).until(lambda d: d.current_url.endswith("index.html#tasks"))
    cells = browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")[0].find_elements(
        By.CSS_SELECTOR, "td.cell"
    )
    assert console_errors(browser) == []

    cells[2].find_element(By.TAG_NAME, "a").click()
    wait(browser).until(
        lambda d: "/b/" in d.current_url and d.execute_script("return document.readyState") == "complete"
    )
    groups = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "table.clauses tr.family")]
    assert any(g.startswith("Generation") for g in groups), groups
    browser.save_screenshot(str(artifacts / "report-generation-backend.png"))
    browser.find_element(By.CSS_SELECTOR, "a.m.o-failed").click()
    wait(browser).until(lambda d: "/c/" in d.current_url)
    assert "gen.threads" in browser.find_element(By.TAG_NAME, "h1").text
    assert browser.find_element(By.CSS_SELECTOR, "pre.message").text == "7 of 160 calls differ from serial"
    assert console_errors(browser) == []


def test_feature_table_shows_clauses_by_backend_and_filters(browser, tmp_path: Path, artifacts: Path) -> None:
    """The index opens on the clause x backend table: a row per catalogue clause (by family, with its
    level and definition), a column per backend row, cells coloured and linking to the drill-down;
    the level and family filters hide rows; the task view is one click away."""
    from selenium.webdriver.common.by import By

    catalogue = [
        {"id": "load.local_files_only", "level": "core", "doc": "local_files_only=True opens no socket"},
        {"id": "parity.pytorch", "level": "core", "doc": "outputs equal PyTorch's within the tolerance"},
        {"id": "save.atomic", "level": "strict", "doc": "a failed save leaves the folder <b>as it was</b>"},
        {"id": "push.single_commit", "level": "strict", "doc": "a push is one commit"},
    ]
    builder = f.run(backends=(("optimum-ort", "0.1.0"), ("reference-ort", "0.1.0")), clauses=catalogue)
    for backend in ("optimum-ort", "reference-ort"):
        builder.result("parity.pytorch", backend=backend)
        builder.result("parity.pytorch", backend=backend, arch="roberta")
        builder.result(
            "load.local_files_only", "failed" if backend == "optimum-ort" else "passed", backend=backend
        )
    builder.result("save.atomic", "unsupported", level="strict", backend="optimum-ort")
    for arch in ("albert", "electra", "mpnet", "xlm-roberta"):  # one deviation on four cases
        for backend in ("optimum-ort", "reference-ort"):
            failed = backend == "optimum-ort"
            builder.result("parity.default_inputs", "failed" if failed else "passed", backend=backend, arch=arch,
                           message="token_type_ids not filled in" if failed else "")  # fmt: skip
    site = tmp_path / "site"
    render_site(load([f.write(tmp_path / "record.jsonl", builder.end())]), site)

    browser.get((site / "index.html").as_uri())
    assert browser.find_element(By.ID, "features").is_displayed()
    assert not browser.find_element(By.ID, "matrix").is_displayed()
    heads = [th.text.splitlines()[0] for th in browser.find_elements(By.CSS_SELECTOR, "#features th.col")]
    assert heads == ["optimum-ort 0.1.0", "reference-ort 0.1.0"]
    families = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#features tr.family th")]
    assert families == ["Loading", "Parity", "Save", "Push"]
    rows = {
        row.get_attribute("data-clause"): row
        for row in browser.find_elements(By.CSS_SELECTOR, "#features tr[data-clause]")
    }
    assert list(rows) == [
        "load.local_files_only",
        "parity.default_inputs",  # not in the catalogue the run declares: listed from its results
        "parity.pytorch",
        "save.atomic",
        "push.single_commit",
    ]
    ort, ref = rows["load.local_files_only"].find_elements(By.CSS_SELECTOR, "td.cell")
    assert ort.text.startswith("0 %") and "✗1" in ort.text and "c-p0" in ort.get_attribute("class")
    assert ref.text.startswith("100 %") and "c-p100" in ref.get_attribute("class")
    assert (
        "as it was" in rows["save.atomic"].text and "<b>" in rows["save.atomic"].text
    )  # a definition is text
    unsupported, absent = rows["save.atomic"].find_elements(By.CSS_SELECTOR, "td.cell")
    assert "\u22121" in unsupported.text and absent.text == "\u2014"
    browser.save_screenshot(str(artifacts / "report-features.png"))
    assert console_errors(browser) == []

    def shown() -> list[str]:
        return [c for c, row in rows.items() if row.is_displayed()]

    browser.find_element(By.CSS_SELECTOR, '#featurefilters button[data-level="strict"]').click()
    assert shown() == ["save.atomic", "push.single_commit"]
    browser.find_element(By.CSS_SELECTOR, '#featurefilters button[data-family="push"]').click()
    assert shown() == ["push.single_commit"]
    assert [
        th.text
        for th in browser.find_elements(By.CSS_SELECTOR, "#features tr.family th")
        if th.is_displayed()
    ] == ["Push"]
    browser.find_element(By.CSS_SELECTOR, '#featurefilters button[data-level=""]').click()
    browser.find_element(By.CSS_SELECTOR, '#featurefilters button[data-family="parity"]').click()
    assert shown() == ["parity.default_inputs", "parity.pytorch"]
    browser.save_screenshot(str(artifacts / "report-features-filtered.png"))

    rows["parity.pytorch"].find_elements(By.CSS_SELECTOR, "td.cell a")[1].click()  # reference-ort
    wait(browser).until(lambda d: "/c/" in d.current_url)
    assert browser.find_element(By.TAG_NAME, "h1").text == "parity.pytorch on reference-ort"
    section = browser.find_element(By.ID, browser.current_url.split("#")[1])
    assert section.tag_name == "section" and len(section.find_elements(By.CSS_SELECTOR, "tr.result")) == 2
    browser.back()
    browser.find_element(By.CSS_SELECTOR, '#views a[data-view="tasks"]').click()
    assert (
        browser.find_element(By.ID, "matrix").is_displayed()
        and not browser.find_element(By.ID, "features").is_displayed()
    )
    assert console_errors(browser) == []

    # The same failure on four architectures is one row on the backend-specific failures page.
    browser.get((site / "interop.html").as_uri())
    (grouped,) = [
        row
        for row in browser.find_elements(By.CSS_SELECTOR, "table.deviations tbody tr")
        if "default_inputs" in row.text
    ]
    summary = grouped.find_element(By.CSS_SELECTOR, "details summary")
    assert (
        summary.text == "4 cases" and not grouped.find_element(By.CSS_SELECTOR, "details li").is_displayed()
    )
    summary.click()
    cases = grouped.find_elements(By.CSS_SELECTOR, "details li a")
    assert [c.text.rsplit("-", 1)[-1].rstrip("]") for c in cases] == ["albert", "electra", "mpnet", "roberta"]
    browser.save_screenshot(str(artifacts / "report-grouped-deviations.png"))
    cases[0].click()
    wait(browser).until(lambda d: "/c/" in d.current_url)
    landed = browser.find_element(By.ID, browser.current_url.split("#")[1])
    assert "token_type_ids not filled in" in landed.find_element(By.XPATH, "following-sibling::tr[1]").text
    assert console_errors(browser) == []
