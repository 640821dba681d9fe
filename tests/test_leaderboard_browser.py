"""The built leaderboard in a real browser: Debian's headless Chromium, driven by Python Playwright, loading the
site from file://. Sorting, the sample browser and its filters, the comparison view, that hostile predictions run
no script, and that no request leaves file://."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from browser import CHROMIUM, launch

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is not installed (apt install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")

from test_leaderboard import HOSTILE, IMG_XSS, make_results, page_data  # noqa: E402

from vipbench.leaderboard import build_site  # noqa: E402


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Path:
    return build_site(make_results(tmp_path_factory.mktemp("leaderboard-browser")))


@pytest.fixture(scope="module")
def browser(index):
    # After `index`: judging runs asyncio.run, which cannot start inside Playwright's running event loop.
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


class Watched:
    """A page that records every request, dialog, console error and uncaught exception."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def wait(self, script: str, timeout_ms: int = 5000) -> None:
        """Poll a JS predicate (the page's CSP forbids the eval behind Playwright's wait_for_function)."""
        for _ in range(timeout_ms // 50):
            if self.page.evaluate(script):
                return
            self.page.wait_for_timeout(50)
        raise AssertionError(f"timed out waiting for {script}")


@pytest.fixture
def watched(browser):
    w = Watched(browser)
    yield w
    w.page.close()
    assert not w.dialogs, f"a script ran: {w.dialogs}"
    assert not w.errors, w.errors
    assert w.requests and all(url.startswith("file://") for url in w.requests), [
        u for u in w.requests if not u.startswith("file://")
    ]


def _order(page, table_id: str) -> list[str]:
    return page.eval_on_selector_all(f'table[data-table="{table_id}"] tbody tr', "rows => rows.map(r => r.dataset.run)")


def test_columns_sort_on_click(watched, index):
    page = watched.page
    page.goto(index.as_uri())
    table = next(t for t in page_data(index)["tables"] if t["task"] == "vip-bench-bbox")
    before = _order(page, table["id"])
    assert before == [r["run"] for r in table["rows"]] and before[0] == "alpha-small"  # All, best first
    page.click(f'table[data-table="{table["id"]}"] thead th:first-child')  # Model, A to Z
    by_model = _order(page, table["id"])
    assert by_model == ["evil", "alpha", "alpha-judge2", "alpha-small", "alpha-template", "beta"]  # evil… < lb-…
    assert page.get_attribute(f'table[data-table="{table["id"]}"] thead th:first-child', "aria-sort") == "ascending"
    all_header = f'table[data-table="{table["id"]}"] thead th.all'
    page.click(all_header)
    assert _order(page, table["id"]) == before
    page.click(all_header)  # second click: lowest first
    assert _order(page, table["id"])[0] == "evil"
    assert page.locator(f'[data-chart="{table["id"]}"] svg.bars rect.bar').count() > 10


def test_sample_view_shows_image_and_hostile_text_literally(watched, index, tmp_path):
    page = watched.page
    unit = next(u for u in page_data(index)["units"] if u["run"] == "alpha" and u["unit"] == "vip-bench-bbox")
    page.goto(f"{index.as_uri()}#samples?unit={unit['key']}&sample=v1_1")
    page.wait_for_selector("#sample-detail img.full")
    watched.wait(
        "() => { const i = document.querySelector('#sample-detail img.full');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    detail = page.text_content("#sample-detail")
    assert "What animal is within the red rectangle?" in detail
    assert HOSTILE + " a cat" in detail and "cat" in detail and "1.0" in detail
    page.click('#sample-list [data-sample="v1_2"]')
    watched.wait("() => document.querySelector('#sample-detail h3').textContent === 'Sample v1_2'")
    assert IMG_XSS in page.text_content("#sample-detail .prediction")
    # Nothing was injected: the only scripts are ours, and no <img src=x> exists.
    scripts = page.eval_on_selector_all("script", "ss => ss.map(s => s.src || s.id)")
    assert all(s == "vipbench-data" or "/assets/app.js" in s or "/data/" in s for s in scripts), scripts
    assert page.locator('img[src="x"]').count() == 0 and page.locator("[onerror]").count() == 0
    # The model whose name is markup shows it as text.
    page.select_option("#sample-unit", next(u["key"] for u in page_data(index)["units"] if u["run"] == "evil"))
    watched.wait("() => document.getElementById('sample-summary').textContent.includes('evil</script>')")
    page.screenshot(path=str(tmp_path / "samples.png"), full_page=True)
    assert (tmp_path / "samples.png").stat().st_size > 10_000


def test_sample_filters_and_paging(watched, index):
    page = watched.page
    unit = next(u for u in page_data(index)["units"] if u["run"] == "beta" and u["unit"] == "vip-bench-bbox")
    page.goto(f"{index.as_uri()}#samples?unit={unit['key']}")
    page.wait_for_selector("#sample-list .sample-item")

    def shown() -> list[str]:
        return page.eval_on_selector_all("#sample-list .sample-item", "xs => xs.map(x => x.dataset.sample)")

    assert len(shown()) == 8
    page.select_option('select[data-filter="capability"]', "ocr")
    assert sorted(shown()) == ["v1_0", "v1_5", "v1_6"]
    page.select_option('select[data-filter="capability"]', "")
    page.check("#only-failed")
    assert shown() == ["v1_7"]
    assert "failed" in page.text_content("#sample-detail .grades")
    page.uncheck("#only-failed")
    page.fill("#score-min", "90")
    assert sorted(shown()) == ["v1_1", "v1_2", "v1_5"]
    page.fill("#score-min", "0")
    page.fill("#sample-search", "stop")
    assert shown() == ["v1_5"]
    assert page.locator("#sample-pager button").count() == 0  # 8 samples fit one page


def test_paging(watched, index):
    page = watched.page
    unit = next(u for u in page_data(index)["units"] if u["run"] == "synth")
    page.goto(f"{index.as_uri()}#samples?unit={unit['key']}")
    page.wait_for_selector("#sample-list .sample-item")

    def shown() -> list[str]:
        return page.eval_on_selector_all("#sample-list .sample-item", "xs => xs.map(x => x.dataset.sample)")

    assert shown() == [f"s{i:03d}" for i in range(20)]
    assert page.text_content("#sample-pager .page-info") == "page 1 of 3"
    page.click("#sample-pager .page-next")
    page.click("#sample-pager .page-next")
    assert shown() == [f"s{i:03d}" for i in range(40, 45)] and page.is_disabled("#sample-pager .page-next")
    page.select_option('select[data-filter="shape"]', "arrow")  # a second breakdown filters too
    assert shown() == [f"s{i:03d}" for i in range(45) if (i // 3) % 3 == 2][:20]
    # A link to one sample opens the page it is on.
    page.goto(f"{index.as_uri()}#samples?unit={unit['key']}&sample=s033")
    page.reload()
    page.wait_for_selector('#sample-list .sample-item[data-sample="s033"].selected')
    assert page.text_content("#sample-detail h3") == "Sample s033"


def test_compare_sorts_by_score_difference(watched, index):
    page = watched.page
    units = page_data(index)["units"]
    a = next(u["key"] for u in units if u["run"] == "alpha" and u["unit"] == "vip-bench-bbox")
    b = next(u["key"] for u in units if u["run"] == "beta" and u["unit"] == "vip-bench-bbox")
    page.goto(f"{index.as_uri()}#compare?unit=vip-bench-bbox&a={a}&b={b}")
    page.wait_for_selector(".compare-row[data-sample]")
    diffs = page.eval_on_selector_all(".compare-row[data-sample] .diff", "xs => xs.map(x => x.textContent)")
    values = [abs(float(d)) for d in diffs if d != "–"]
    assert values == sorted(values, reverse=True) and values[0] == 100.0
    assert diffs[-1] == "–"  # v1_7: B's grade failed, so no difference, listed last
    page.select_option("#compare-sort", "b")
    first = page.eval_on_selector_all(".compare-row[data-sample] .diff", "xs => xs.map(x => x.textContent)")[0]
    assert first.startswith("+")
    assert HOSTILE in page.text_content("#compare-list")
    # Runs graded by different judges carry a visible warning.
    c = next(u["key"] for u in units if u["run"] == "alpha-judge2")
    page.select_option("#compare-b", c)
    page.wait_for_selector("#compare-warnings .warning")
    assert "judge model" in page.text_content("#compare-warnings")


def test_every_tab_works_offline(watched, index, tmp_path):
    page = watched.page
    page.goto(index.as_uri())
    for tab in ("styles", "samples", "compare", "runs", "overview"):
        page.click(f'nav.tabs a[data-tab="{tab}"]')
        page.wait_for_selector(f"#tab-{tab}", state="visible", timeout=5000)  # hashchange is asynchronous
    page.click('a[href^="#samples?unit="]')
    page.wait_for_selector("#sample-detail img.full")
    page.screenshot(path=str(tmp_path / "overview.png"))
    assert any("/img/" in url for url in watched.requests) and any("/data/" in url for url in watched.requests)


def test_a_metric_unit_shows_its_grades_on_the_overview_scale_not_judge_replies(watched, index):
    page = watched.page
    unit = next(u for u in page_data(index)["units"] if u["run"] == "synth")
    page.goto(f"{index.as_uri()}#samples?unit={unit['key']}")
    page.wait_for_selector("#sample-detail .grades")
    grades = page.text_content("#sample-detail .grades")
    assert "judge reply" not in grades and "no reply" not in grades and "metric exact" in grades
    assert page.text_content("label.control.check").strip() == "grade failed"
    assert "score (0–100)" in page.text_content("#sample-controls")
    assert page.get_attribute("#score-max", "max") == "100"
