"""Driving the web app in a real browser: Debian's Chromium through Playwright, shared by the browser tests.
Their fixtures (``browser``, ``screenshots``) are in conftest; ``require_browser`` skips with advice where
Chromium or Playwright is missing (and fails under CI)."""
from __future__ import annotations

import os
from pathlib import Path

from needs import require

try:
    import playwright.sync_api as playwright_api
except ImportError:    # pragma: no cover - the dev requirements install it
    playwright_api = None

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 90_000
HIDE_TOASTS = ".toast-wrap { display: none !important; }"

expect = playwright_api.expect if playwright_api is not None else None
if expect is not None:
    expect.set_options(timeout=TIMEOUT_MS)


def require_browser() -> None:
    """Skip (or, under CI, fail) unless Playwright and Chromium are there."""
    require(playwright_api is not None, "the playwright package", "install the dev requirements: ./run.sh test does")
    require(CHROMIUM.exists(), f"Chromium at {CHROMIUM}",
            "install it with 'apt-get install chromium fonts-noto-cjk' (as .ci/run does), or set CHROMIUM_PATH")


def launch(playwright):
    """Debian's Chromium, headless."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def open_page(browser, url: str, locale: str = "en-US"):
    """A new page of the app at ``url`` in the browser's ``locale``, once the page is ready."""
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(url)
    expect(page.locator("#single-enhance")).to_be_visible()
    return page


def screenshot(page, path: Path) -> None:
    """The whole page, without the notices that come and go."""
    page.add_style_tag(content=HIDE_TOASTS)
    page.screenshot(path=str(path), full_page=True)




def loaded_image_size(image) -> tuple[int, int]:
    """The natural (width, height) of the ``<img>`` that ``image`` locates, once the browser has loaded it
    (galleries load lazily, so it is scrolled into view first)."""
    image.scroll_into_view_if_needed()
    return tuple(image.evaluate("""image => new Promise((resolve, reject) => {
        const size = () => resolve([image.naturalWidth, image.naturalHeight]);
        if (image.complete && image.naturalWidth > 0) return size();
        image.addEventListener("load", size, {once: true});
        image.addEventListener("error", () => reject(new Error("the image did not load: " + image.src)), {once: true});
    })"""))
