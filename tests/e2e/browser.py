"""A small headless-Chromium helper: open a report as a person would and record what went wrong.

It drives the system's Chromium (Debian's ``chromium`` package) through Playwright; it never
downloads a browser. Where Chromium or Playwright is missing, :func:`require_browser` skips the
test with the reason, unless ``SYNTHPRIV_REQUIRE_BROWSER=1`` (CI) turns that into a failure.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urldefrag, urlparse
from urllib.request import url2pathname

import pytest

REQUIRE_ENV = "SYNTHPRIV_REQUIRE_BROWSER"
CHROMIUM_ENV = "SYNTHPRIV_CHROMIUM"  # optional: an explicit Chromium binary
VIEWPORT = {"width": 1280, "height": 860}  # a common laptop screen
# Screenshots are drawn at this many device pixels per CSS pixel: 0.6 keeps a long page's PNG
# near a few hundred kB (1.0 gave 0.9-1.0 MB for the attack and validate pages) and its text legible.
SCREENSHOT_SCALE = 0.6
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_LOCAL_SCHEMES = ("file:", "data:", "about:")
_CONSOLE_TYPES = ("error", "warning")


def find_chromium() -> str | None:
    """The Chromium binary: $SYNTHPRIV_CHROMIUM, else `chromium` (or `chromium-browser`) on PATH."""
    explicit = os.environ.get(CHROMIUM_ENV)
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0", "false", "no")


def require_browser() -> str:
    """The Chromium path, or skip (fail where SYNTHPRIV_REQUIRE_BROWSER=1) saying what is missing."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the Python package playwright is not installed (pip install -e '.[test]')"
    chromium = find_chromium()
    if problem is None and chromium is None:
        problem = "no Chromium found (apt-get install chromium, or set SYNTHPRIV_CHROMIUM to its binary)"
    if problem is not None:
        if browser_required():
            pytest.fail(f"browser tests need a browser ({REQUIRE_ENV} is set): {problem}", pytrace=False)
        pytest.skip(f"browser tests skipped: {problem}")
    assert chromium is not None
    return chromium


@dataclass
class PageCheck:
    """What happened when one page was opened."""

    path: Path
    url: str
    console: list[str] = field(default_factory=list)  # console messages of type error or warning
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions in the page
    failed_requests: list[str] = field(default_factory=list)
    network_requests: list[str] = field(default_factory=list)  # anything not file:, data: or about:
    dialogs: list[str] = field(default_factory=list)  # alert, confirm, prompt, beforeunload
    broken_links: list[str] = field(default_factory=list)
    external_links: list[str] = field(default_factory=list)  # http(s) links: not followed, listed
    links: list[str] = field(default_factory=list)  # every href as written
    screenshot: Path | None = None

    @property
    def problems(self) -> list[str]:
        """One line per problem; empty when the page opened cleanly."""
        lines: list[str] = []
        for label, items in (
            ("console", self.console),
            ("page error", self.page_errors),
            ("failed request", self.failed_requests),
            ("network request", self.network_requests),
            ("dialog", self.dialogs),
            ("broken link", self.broken_links),
        ):
            lines += [f"{label}: {item}" for item in items]
        return lines


class _Ids(HTMLParser):
    """The ids (and legacy a[name]s) a file defines, for links of the form other.html#id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if value is not None and (key == "id" or (tag == "a" and key == "name")):
                self.ids.add(value)


def _ids_in(path: Path) -> set[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser.ids


def file_url_path(url: str) -> Path:
    return Path(url2pathname(unquote(urlparse(url).path)))


class Browser:
    """``with Browser() as browser: check = browser.open(path, screenshot=png)``."""

    def __init__(self, executable: str | None = None, *, viewport: dict[str, int] | None = None) -> None:
        self.executable = executable or require_browser()
        self.viewport = viewport or dict(VIEWPORT)
        self._playwright = None
        self._browser = None

    def __enter__(self) -> Self:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=self.executable, args=CHROMIUM_ARGS, headless=True
            )
        except Exception:
            self._playwright.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()

    def open(  # type: ignore[no-untyped-def]
        self, path: Path, *, screenshot: Path | None = None, inspect=None
    ) -> PageCheck:
        """Open a local HTML file, check it, optionally screenshot it.

        ``inspect(page, check)`` runs while the page is still open, for test-specific DOM checks.
        """
        assert self._browser is not None, "use Browser as a context manager"
        path = Path(path).resolve()
        check = PageCheck(path=path, url=path.as_uri())
        context = self._browser.new_context(
            viewport=self.viewport,
            offline=True,
            java_script_enabled=True,
            device_scale_factor=SCREENSHOT_SCALE if screenshot is not None else 1,
        )
        # Nothing may leave the machine: record and abort any request that is not local.
        context.route(
            lambda url: not url.startswith(_LOCAL_SCHEMES), lambda route: route.abort("blockedbyclient")
        )
        page = context.new_page()
        page.on(
            "console",
            lambda m: check.console.append(f"{m.type}: {m.text}") if m.type in _CONSOLE_TYPES else None,
        )
        page.on("pageerror", lambda e: check.page_errors.append(str(e)))
        page.on("requestfailed", lambda r: check.failed_requests.append(f"{r.url} ({r.failure})"))
        page.on(
            "request",
            lambda r: check.network_requests.append(r.url) if not r.url.startswith(_LOCAL_SCHEMES) else None,
        )

        def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
            check.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        try:
            page.goto(check.url, wait_until="load")
            page.wait_for_load_state("networkidle")
            self._check_links(page, check)
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True, scale="device")
                check.screenshot = screenshot
            if inspect is not None:
                inspect(page, check)
        finally:
            context.close()
        return check

    @staticmethod
    def _check_links(page, check: PageCheck) -> None:  # type: ignore[no-untyped-def]
        anchors = page.evaluate(
            "() => Array.from(document.querySelectorAll('a[href]'), a => [a.getAttribute('href'), a.href])"
        )
        for raw, resolved in anchors:
            check.links.append(raw)
            where = f"{raw!r}"
            if raw.startswith("#"):
                fragment = unquote(raw[1:])
                if not fragment:
                    check.broken_links.append(f"{where}: empty fragment")
                elif not page.evaluate("id => document.getElementById(id) !== null", fragment):
                    check.broken_links.append(f"{where}: no element with id {fragment!r} on this page")
                continue
            scheme = urlparse(resolved).scheme
            if scheme in ("http", "https"):
                check.external_links.append(resolved)
                continue
            if scheme == "mailto":
                continue
            if scheme != "file":
                check.broken_links.append(f"{where}: {scheme}: link in an offline report")
                continue
            target_url, fragment = urldefrag(resolved)
            target = file_url_path(target_url)
            if not target.is_file():
                check.broken_links.append(f"{where}: {target} does not exist")
            elif (
                fragment
                and target.suffix.lower() in (".html", ".htm")
                and unquote(fragment) not in _ids_in(target)
            ):
                check.broken_links.append(
                    f"{where}: no element with id {unquote(fragment)!r} in {target.name}"
                )
