"""The run's HTML reports opened in headless Chromium, as a person would open them.

Every kind of run a person meets, through the CLI, on the demo table (few epochs, few rows):
a passing run, a run that fails a gate (export refused), the same run exported by force
(--allow-failed-gates), a differentially private run (DP-SGD) and an `evaluate` run of an outside
synthetic table. The failing and forced runs start from copies of the passing run's folder, so
they reuse its train and synthesize stages. Each page (index.html and every stage's report.html)
is opened from disk and checked: no console error or warning, no page error, no failed or network
request (the reports open offline), no dialog, no broken link or anchor, and every headline figure
of the index equals, with the same colour, a figure of the section its "How it is measured" link
lands on (both pages parsed). Full-page screenshots (1280 wide, drawn at 0.6 scale to keep the
files small) go to $SYNTHPRIV_SCREENSHOTS, else reports/screenshots/ under the repository root.

A further run uses a table whose column names and category values are HTML/script payloads;
its reports must show them as text, never run or parse them.

Without Chromium (or Playwright) these tests skip; SYNTHPRIV_REQUIRE_BROWSER=1 (CI) fails instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from synthpriv.data.io import read_table
from tests.e2e.browser import Browser, PageCheck, file_url_path, require_browser

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "pipelines" / "demo.yaml"
DEMO_DP = REPO / "pipelines" / "demo_dp_sgd.yaml"
STAGES = ("train", "synthesize", "validate", "attack", "export")
EPOCHS = 5  # the reports, not the model, are under test

SCRIPT_PAYLOAD = "</script><script>alert(1)</script>"
ATTRIBUTE_PAYLOAD = '"><img src=x onerror=alert(1)>'
PAYLOADS = (SCRIPT_PAYLOAD, ATTRIBUTE_PAYLOAD)


def screenshot_dir() -> Path:
    configured = os.environ.get("SYNTHPRIV_SCREENSHOTS")
    return Path(configured) if configured else REPO / "reports" / "screenshots"


def run_cli(pipeline: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return synthpriv("run", str(pipeline), "-o", str(out), "-q", *extra)


def synthpriv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synthpriv", *args],
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


# --- every kind of run --------------------------------------------------------------------

#: validate settings that keep the DP and evaluate runs' validate stage to a few seconds.
FEW_ROWS_VALIDATE = {"max_rows": 120, "model_rows": 120, "efficacy_rows": 120, "neighbour_rows": 120}
IMPOSSIBLE_GATE = {"min_quality": 0.999}


def _pipeline(folder: Path, config: dict) -> Path:
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _demo_config() -> dict:
    config = yaml.safe_load(DEMO.read_text())
    config["train"] = {**(config.get("train") or {}), "epochs": EPOCHS}
    return config


@pytest.fixture(scope="module")
def failing_run(demo_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The passing run's folder, run again with a gate no table meets: export is refused (exit 5)."""
    folder = tmp_path_factory.mktemp("failing-browser")
    out = folder / "run"
    shutil.copytree(demo_run, out)  # train and synthesize are reused
    config = _demo_config()
    config["gates"] = {**config["gates"], **IMPOSSIBLE_GATE}
    result = run_cli(_pipeline(folder, config), out)
    assert result.returncode == 5, result.stderr[-3000:]
    assert not (out / "export" / "report.html").exists()
    return out


@pytest.fixture(scope="module")
def forced_run(failing_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The failing run exported anyway (--allow-failed-gates): only export runs."""
    folder = tmp_path_factory.mktemp("forced-browser")
    out = folder / "run"
    shutil.copytree(failing_run, out)
    config = _demo_config()
    config["gates"] = {**config["gates"], **IMPOSSIBLE_GATE}
    result = run_cli(_pipeline(folder, config), out, "--allow-failed-gates")
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def dp_run(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pipelines/demo_dp_sgd.yaml (DP-SGD, epsilon 3) with few epochs and rows."""
    folder = tmp_path_factory.mktemp("dp-browser")
    config = yaml.safe_load(DEMO_DP.read_text())
    config["train"].update({"epochs": EPOCHS, "params": {"hidden_dims": [32, 32], "latent_dim": 8}})
    config["synthesize"] = {"rows": 200}
    config["validate"] = FEW_ROWS_VALIDATE
    out = folder / "run"
    assert_ran(run_cli(_pipeline(folder, config), out), out)
    return out


@pytest.fixture(scope="module")
def evaluate_run(demo_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`synthpriv evaluate` of the passing run's synthetic table against the demo table's halves."""
    folder = tmp_path_factory.mktemp("evaluate-browser")
    table = read_table("builtin:student_placements").sample(frac=1.0, random_state=3)
    cut = 3 * len(table) // 4
    table.iloc[:cut].to_parquet(folder / "train.parquet", index=False)
    table.iloc[cut:].to_parquet(folder / "holdout.parquet", index=False)
    settings = _pipeline(folder, {**_demo_config(), "validate": FEW_ROWS_VALIDATE})
    out = folder / "run"
    result = synthpriv(
        "evaluate",
        "--train", str(folder / "train.parquet"),
        "--holdout", str(folder / "holdout.parquet"),
        "--synthetic", str(demo_run / "synthesize" / "synthetic.parquet"),
        "--pipeline", str(settings),
        "-o", str(out),
        "-q",
    )  # fmt: skip
    assert result.returncode in (0, 5), result.stderr[-3000:]
    assert set(report_pages(out)) == {"index", "validate", "attack"}
    return out


_SECTION_JS = """id => {
  const section = document.getElementById(id);
  if (!section) return null;
  return Array.from(section.querySelectorAll('.figure'), f => ({
    kind: f.dataset.kind || '',
    label: f.querySelector('.label').textContent.trim(),
    text: f.querySelector('.value').textContent.trim() + ' ' +
      ((f.querySelector('.note') || {}).textContent || ''),
    tone: (f.className.match(/tone-(\\w+)/) || [])[1],
  }));
}"""

_INDEX_JS = """() => Array.from(document.querySelectorAll('.figure'), f => ({
  kind: f.dataset.kind || '',
  label: f.querySelector('.label').textContent.trim(),
  value: f.querySelector('.value').textContent.trim(),
  tone: (f.className.match(/tone-(\\w+)/) || [])[1],
  href: (f.querySelector('a.more') || {}).href || '',
}))"""

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?%?")


def numbers(text: str) -> list[tuple[float, int, bool]]:
    """Each number in ``text``: (value, decimals shown, is a percentage)."""
    out = []
    for token in _NUMBER.findall(text):
        percent = token.endswith("%")
        digits = token.rstrip("%").replace(",", "")
        decimals = len(digits.partition(".")[2])
        out.append((float(digits), decimals, percent))
    return out


def shows(figure_value: str, text: str) -> bool:
    """Whether every number of ``figure_value`` is in ``text``, equal at the precision it is shown."""
    found = numbers(text)
    return all(
        any(p == percent and round(v, decimals) == value for v, _, p in found)
        for value, decimals, percent in numbers(figure_value)
    )


def headline_mismatches(browser: Browser, run_dir: Path) -> list[str]:
    """Index figures whose "How it is measured" section shows no figure of their kind, number and colour."""
    facts: dict = {}
    browser.open(
        run_dir / "index.html", inspect=lambda page, check: facts.update(index=page.evaluate(_INDEX_JS))
    )
    linked = [f for f in facts["index"] if f["href"]]
    sections: dict[tuple[str, str], list | None] = {}
    for target in {f["href"].partition("#")[0] for f in linked}:  # each page opened once
        anchors = {f["href"].partition("#")[2] for f in linked if f["href"].startswith(target)}

        def read(page, check, target=target, anchors=anchors) -> None:  # type: ignore[no-untyped-def]
            sections.update({(target, a): page.evaluate(_SECTION_JS, a) for a in anchors})

        browser.open(file_url_path(target), inspect=read)
    problems = [] if linked else ["the index links no figure to the section that measures it"]
    for figure in linked:
        target, _, anchor = figure["href"].partition("#")
        where = f"{figure['label']} {figure['value']} -> {Path(target).parent.name}#{anchor}"
        section = sections.get((target, anchor))
        if not anchor or section is None:
            problems.append(f"{where}: lands on no section")
            continue
        same_kind = [f for f in section if f["kind"] == figure["kind"]] or section
        matching = [f for f in same_kind if shows(figure["value"], f["text"])]
        if not matching:
            problems.append(f"{where}: no figure there shows {figure['value']}")
        elif figure["tone"] not in {f["tone"] for f in matching}:
            problems.append(f"{where}: {figure['tone']} on the index, {[f['tone'] for f in matching]} there")
    return problems


RUNS = ("demo", "failing", "forced", "dp", "evaluate")
_FIXTURES = {"demo": "demo_run", "failing": "failing_run", "forced": "forced_run", "dp": "dp_run"}


def test_shows_compares_numbers_at_their_shown_precision() -> None:
    assert shows("0.566", "ROC AUC 0.566, 95% CI 0.53–0.60; ideal 0.5")
    assert shows("epsilon 3", "2.996 budget 3")
    assert shows("0.00%", "0.00% sample-matched") and not shows("0.00%", "0.000")
    assert not shows("0.566", "ROC AUC 0.567")
    assert shows("1,234", "1234 rows")


@pytest.mark.slow
@pytest.mark.parametrize("kind", RUNS)
def test_every_page_of_every_kind_of_run_opens_cleanly_and_agrees_with_the_index(
    kind: str, browser: Browser, request: pytest.FixtureRequest
) -> None:
    run_dir: Path = request.getfixturevalue(_FIXTURES.get(kind, "evaluate_run"))
    pages = report_pages(run_dir)
    expected = {"failing": {"index", *STAGES[:-1]}, "evaluate": {"index", "validate", "attack"}}
    assert set(pages) == expected.get(kind, {"index", *STAGES}), sorted(pages)
    failures: list[str] = []
    every_page = {path.resolve() for path in pages.values()}
    for name, path in pages.items():
        facts: dict = {}

        def inspect(page, check: PageCheck, facts: dict = facts) -> None:  # type: ignore[no-untyped-def]
            facts["h1"] = page.locator("h1").count() > 0 and page.locator("h1").first.is_visible()
            facts["nav"] = page.evaluate(
                "() => Array.from(document.querySelectorAll('nav a[href]'), a => a.href)"
            )

        check = browser.open(path, screenshot=screenshot_dir() / f"{kind}-{name}.png", inspect=inspect)
        failures += [f"{name}: {line}" for line in check.problems]
        if not facts["h1"]:
            failures.append(f"{name}: no visible <h1>")
        # The nav links every page the run has (and no other: a missing one is a broken link above).
        linked = {
            file_url_path(url.split("#")[0]).resolve() for url in facts["nav"] if url.startswith("file:")
        }
        if every_page - linked:
            failures.append(f"{name}: the nav does not link to {sorted(p.name for p in every_page - linked)}")
        assert check.screenshot is not None and check.screenshot.stat().st_size > 0
    failures += headline_mismatches(browser, run_dir)
    index = (run_dir / "index.html").read_text()
    if kind == "failing":
        assert "Not exported" in index and "nothing was exported because a gate failed" in index
    if kind == "forced":
        assert "Exported despite failed gates" in index
    if kind == "dp":
        assert 'href="train/report.html#ledger"' in index
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_a_headline_that_disagrees_with_its_page_is_caught(
    browser: Browser, demo_run: Path, tmp_path: Path
) -> None:
    """The check above can fail: an index whose membership figure was edited no longer agrees."""
    copy = tmp_path / "run"
    shutil.copytree(demo_run, copy)
    index = copy / "index.html"
    html = index.read_text()
    figure = re.search(
        r'data-kind="membership_auc">\s*<div class="label">[^<]*</div>\s*<div class="value">([^<]*)<', html
    )
    assert figure is not None
    start, end = figure.span(1)
    index.write_text(html[:start] + "0.999" + html[end:])
    problems = headline_mismatches(browser, copy)
    assert len(problems) == 1 and "no figure there shows 0.999" in problems[0], problems
