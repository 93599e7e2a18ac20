"""The run's HTML reports opened in headless Chromium, as a person would open them.

Runs the demo pipeline (few epochs) through the CLI, opens index.html and every stage's
report.html from disk and checks: no console error or warning, no page error, no failed or
network request (the reports open offline), no dialog, no broken link, a visible <h1>, a nav
that links to every stage. Full-page screenshots at 1366x860 go to $SYNTHPRIV_SCREENSHOTS, else
reports/screenshots/ under the repository root, for a person to look at.

A second run uses a table whose column names and category values are HTML/script payloads;
its reports must show them as text, never run or parse them.

Without Chromium (or Playwright) these tests skip; SYNTHPRIV_REQUIRE_BROWSER=1 (CI) fails instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from synthpriv.data.io import read_table
from tests.e2e.browser import Browser, PageCheck, file_url_path, require_browser

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "pipelines" / "demo.yaml"
STAGES = ("train", "synthesize", "validate", "attack", "export")
EPOCHS = 5  # the reports, not the model, are under test

SCRIPT_PAYLOAD = "</script><script>alert(1)</script>"
ATTRIBUTE_PAYLOAD = '"><img src=x onerror=alert(1)>'
PAYLOADS = (SCRIPT_PAYLOAD, ATTRIBUTE_PAYLOAD)


def screenshot_dir() -> Path:
    configured = os.environ.get("SYNTHPRIV_SCREENSHOTS")
    return Path(configured) if configured else REPO / "reports" / "screenshots"


def run_cli(pipeline: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synthpriv", "run", str(pipeline), "-o", str(out), "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def report_pages(run_dir: Path) -> dict[str, Path]:
    """index.html and each stage's report.html that the run wrote, by a short name."""
    pages = {"index": run_dir / "index.html"}
    pages.update({stage: run_dir / stage / "report.html" for stage in STAGES})
    return {name: path for name, path in pages.items() if path.is_file()}


def assert_ran(result: subprocess.CompletedProcess[str], run_dir: Path) -> None:
    """Exit 0, or 5 (a failed gate: export is skipped, the other reports are written)."""
    assert result.returncode in (0, 5), f"exit {result.returncode}\n{result.stderr[-3000:]}"
    assert (run_dir / "index.html").is_file(), result.stderr[-3000:]
    for stage in STAGES[:-1]:
        assert (run_dir / stage / "report.html").is_file(), (
            f"{stage}/report.html missing\n{result.stderr[-3000:]}"
        )


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    executable = require_browser()  # skips (or fails in CI) before any pipeline runs
    with Browser(executable) as opened:
        yield opened


@pytest.fixture(scope="module")
def demo_run(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pipelines/demo.yaml with train.epochs 5, run through the CLI; returns the run folder."""
    folder = tmp_path_factory.mktemp("demo-browser")
    config = yaml.safe_load(DEMO.read_text())
    config["train"] = {**(config.get("train") or {}), "epochs": EPOCHS}
    pipeline = folder / "demo.yaml"
    pipeline.write_text(yaml.safe_dump(config, sort_keys=False))
    out = folder / "run"
    assert_ran(run_cli(pipeline, out), out)
    return out


@pytest.fixture(scope="module")
def hostile_run(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The demo table with two columns renamed to payloads and a category column holding them."""
    folder = tmp_path_factory.mktemp("hostile-browser")
    table = read_table("builtin:student_placements")
    table = table.rename(columns={"placed": SCRIPT_PAYLOAD, "gender": ATTRIBUTE_PAYLOAD})
    table["degree_type"] = [PAYLOADS[i % 2] for i in range(len(table))]  # about 107 rows each
    assert (table["degree_type"].value_counts() >= 20).all()
    data = folder / "hostile.parquet"
    table.to_parquet(data, index=False)
    config = yaml.safe_load(DEMO.read_text())
    config["name"] = "hostile"
    config["data"] = {**config["data"], "path": str(data), "target": SCRIPT_PAYLOAD}
    config["train"] = {**(config.get("train") or {}), "epochs": EPOCHS}
    config["attack"] = {
        "quasi_identifiers": [ATTRIBUTE_PAYLOAD, "degree_type", "work_experience"],
        "sensitive": SCRIPT_PAYLOAD,
    }
    pipeline = folder / "hostile.yaml"
    pipeline.write_text(yaml.safe_dump(config, sort_keys=False))
    out = folder / "run"
    return out, run_cli(pipeline, out)


@pytest.mark.slow
def test_demo_reports_open_cleanly_in_chromium(browser: Browser, demo_run: Path) -> None:
    pages = report_pages(demo_run)
    assert set(pages) == {"index", *STAGES}, f"reports written: {sorted(pages)}"
    shots = screenshot_dir()
    expected_nav = {(demo_run / "index.html").resolve()} | {
        (demo_run / s / "report.html").resolve() for s in STAGES
    }
    failures: list[str] = []
    for name, path in pages.items():
        facts: dict = {}

        def inspect(page, check: PageCheck, facts: dict = facts) -> None:  # type: ignore[no-untyped-def]
            facts["h1"] = page.locator("h1").count() > 0 and page.locator("h1").first.is_visible()
            facts["h1_text"] = page.locator("h1").first.inner_text() if page.locator("h1").count() else ""
            facts["nav"] = page.evaluate(
                "() => Array.from(document.querySelectorAll('nav a[href]'), a => a.href)"
            )

        check = browser.open(path, screenshot=shots / f"demo-{name}.png", inspect=inspect)
        failures += [f"{name}: {line}" for line in check.problems]
        if not facts["h1"]:
            failures.append(f"{name}: no visible <h1>")
        linked = {
            file_url_path(url.split("#")[0]).resolve() for url in facts["nav"] if url.startswith("file:")
        }
        missing = sorted(str(p.relative_to(demo_run.resolve())) for p in expected_nav - linked)
        if missing:
            failures.append(f"{name}: the nav does not link to {missing}")
        assert check.screenshot is not None and check.screenshot.stat().st_size > 0
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_payload_names_and_values_are_shown_as_text(
    browser: Browser, hostile_run: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    out, result = hostile_run
    assert_ran(result, out)
    pages = report_pages(out)
    shots = screenshot_dir()
    failures: list[str] = []
    shown: set[str] = set()
    for name, path in pages.items():
        raw = path.read_text(encoding="utf-8")
        failures += [f"{name}: raw HTML holds the unescaped {p!r}" for p in PAYLOADS if p in raw]
        facts: dict = {}

        def inspect(page, check: PageCheck, facts: dict = facts) -> None:  # type: ignore[no-untyped-def]
            facts["injected"] = page.evaluate(
                "() => document.querySelectorAll('script, img[src=x], [onerror]').length"
            )
            facts["text"] = page.evaluate("() => document.documentElement.textContent")
            facts["attrs"] = page.evaluate(
                "() => Array.from(document.querySelectorAll('[title], [aria-label]'), "
                "e => (e.getAttribute('title') || '') + ' ' + (e.getAttribute('aria-label') || '')).join(' ')"
            )

        check = browser.open(path, screenshot=shots / f"hostile-{name}.png", inspect=inspect)
        failures += [f"{name}: dialog: {d}" for d in check.dialogs]
        failures += [f"{name}: page error: {e}" for e in check.page_errors]
        if facts["injected"]:
            failures.append(f"{name}: {facts['injected']} element(s) match 'script, img[src=x], [onerror]'")
        shown |= {p for p in PAYLOADS if p in facts["text"] or p in facts["attrs"]}
    assert not failures, "\n".join(failures)
    # The payloads did reach the reports (as text): otherwise this test would check nothing.
    assert shown == set(PAYLOADS), f"payloads never shown as text: {sorted(set(PAYLOADS) - shown)}"


_TONES_JS = """() => ({
  figures: Array.from(document.querySelectorAll('.figure[data-kind]'), f => ({
    kind: f.dataset.kind,
    label: f.querySelector('.label').textContent.trim(),
    value: f.querySelector('.value').textContent.trim(),
    tone: (f.className.match(/tone-(\\w+)/) || [])[1],
  })),
  used: Array.from(document.querySelectorAll('.figure, .verdict, .link'),
    e => (e.className.match(/tone-(\\w+)/) || [])[1]),
  explained: Array.from(document.querySelectorAll('[data-legend-tone]'), e => e.dataset.legendTone),
  legendShown: !!document.querySelector('#legend-title') &&
    document.querySelector('#legend-title').getBoundingClientRect().height > 0,
})"""


@pytest.mark.slow
def test_demo_pages_give_one_figure_one_tone_and_explain_their_colours(
    browser: Browser, demo_run: Path
) -> None:
    """The same figure (kind, label and value) has the same colour on the index and every stage page, and
    every colour a page uses is in the legend it shows."""
    tones: dict[tuple[str, str, str], set[str]] = {}
    failures: list[str] = []
    for name, path in report_pages(demo_run).items():
        facts: dict = {}

        def inspect(page, check: PageCheck, facts: dict = facts) -> None:  # type: ignore[no-untyped-def]
            facts.update(page.evaluate(_TONES_JS))

        check = browser.open(path, inspect=inspect)
        failures += [f"{name}: {line}" for line in check.problems]
        for figure in facts["figures"]:
            # Keyed by label too: two attacks' risks can both read 0.000 with different intervals.
            key = (figure["kind"], figure["label"], figure["value"])
            tones.setdefault(key, set()).add(f"{figure['tone']} ({name})")
        unexplained = set(facts["used"]) - {"neutral"} - set(facts["explained"])
        if unexplained:
            failures.append(f"{name}: colours {sorted(unexplained)} are not in the page's legend")
        if set(facts["used"]) - {"neutral"} and not facts["legendShown"]:
            failures.append(f"{name}: colours used but no visible legend")
    failures += [
        f"{kind} {label} {value}: {sorted(seen)}"
        for (kind, label, value), seen in tones.items()
        if len({s.split()[0] for s in seen}) > 1
    ]
    assert tones, "no figure names its kind: the test would prove nothing"
    assert not failures, "\n".join(failures)
