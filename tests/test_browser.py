"""The web page in headless Chromium against the real service (fake predictors).

Screenshots (desktop and phone width) go to a temporary folder; with
ADVISOR_UPDATE_SCREENSHOTS=1 they replace the committed ones in docs/screenshots/.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import httpx
import pytest
from browser_fixtures import (  # noqa: F401  (registers `browser` and `live_server`)
    browser_fixture,
    live_server_fixture,
    save_screenshot,
)

SCREENSHOTS = (Path(__file__).resolve().parent.parent / "docs" / "screenshots"
               if os.environ.get("ADVISOR_UPDATE_SCREENSHOTS") == "1"
               else Path(tempfile.mkdtemp(prefix="advisor-screens-")))
RTX = "NVIDIA GeForce RTX 3090"


@pytest.fixture
def page_at(browser, live_server):
    """Open a page of the given viewport size; records every URL the page requests."""
    contexts = []

    def open_page(width: int = 1280, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height},
                                      device_scale_factor=1)
        contexts.append(context)
        page = context.new_page()
        page.requested = []
        page.on("request", lambda r: page.requested.append(r.url))
        page.set_default_timeout(15_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def _set_slider(page, name: str, value: int) -> None:
    page.locator(f"#w-{name}").evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", str(value))


def _expected(live_server, **params) -> dict:
    r = httpx.get(f"{live_server}/v1/recommend", params=params, timeout=30)
    r.raise_for_status()
    return r.json()


def test_form_gives_the_api_pick_and_draws_the_charts(page_at, live_server):
    page = page_at()
    page.goto(f"{live_server}/")
    page.wait_for_selector("body[data-ready='true']")
    page.fill("#vram", "24GB")
    for name in ("math", "coding", "knowledge", "instruction_following", "language"):
        _set_slider(page, name, 0)
    _set_slider(page, "reasoning", 100)
    page.select_option("#hardware", RTX)
    page.click("#submit")
    page.wait_for_selector("#answer:not([hidden])")

    expected = _expected(live_server, vram="24GB", task="reasoning", hardware=RTX)
    pick = expected["pick"]
    assert page.text_content("#pick-title") == f"Pick: {pick['model']} at {pick['quant']}"
    assert "tg128" in page.text_content("#speed")
    assert page.text_content("#explanation") == expected["explanation"]
    assert page.locator("#alternatives tr").count() == len(expected["alternatives"]) + 1
    assert page.locator("#memory-chart svg rect").count() >= 4

    candidates = httpx.get(f"{live_server}/v1/candidates",
                           params={"vram": "24GB", "task": "reasoning", "hardware": RTX}).json()
    front = page.locator("#chart-front svg")
    assert front.locator("circle").count() == len(candidates["points"])
    assert front.locator("path.front").count() == 1 and front.locator("path.pick").count() == 1
    assert "Quality against memory" in front.locator("title").first.text_content()
    assert page.locator("#chart-bpw svg polyline").count() >= 2
    bars = page.locator("#chart-speed svg rect.bar")
    assert bars.count() == sum(p["model"] == pick["model"] for p in candidates["points"])
    assert page.locator("#chart-speed svg rect.pick-bar").count() == 1
    assert page.get_attribute("#results", "aria-live") == "polite"
    assert all(u.startswith(live_server) for u in page.requested), page.requested

    shot = save_screenshot(page, SCREENSHOTS / "web-desktop.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("fill, field, fragment", [
    ({"#vram": "lots"}, "vram", "vram must be a size"),
    ({"#vram": "0.01GB"}, "vram", "nothing fits"),
    ({"#context": "5"}, "context", "context must be between"),
    ({"#hardware": "__specs__"}, "bandwidth_gbs", "needs kind"),
    ({"#hardware": RTX, "#min_tokens_per_s": "100000"}, "min_tokens_per_s",
     "no candidate reaches"),
])
def test_bad_input_shows_the_error_next_to_the_field(page_at, live_server, fill, field,
                                                     fragment):
    page = page_at()
    page.goto(f"{live_server}/")
    page.wait_for_selector("body[data-ready='true']")
    for selector, value in fill.items():
        if selector == "#hardware":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    page.click("#submit")
    page.wait_for_function(f"document.getElementById('{field}-error').textContent.length > 0")
    assert fragment in page.text_content(f"#{field}-error")
    assert page.get_attribute(f"#{field}", "aria-invalid") == "true"
    assert page.locator("#answer").is_hidden()


def test_hardware_given_by_specs(page_at, live_server):
    page = page_at()
    page.goto(f"{live_server}/")
    page.wait_for_selector("body[data-ready='true']")
    page.fill("#vram", "32GB")
    page.select_option("#hardware", "__specs__")
    page.select_option("#hardware_kind", "apple")
    page.fill("#bandwidth_gbs", "400")
    page.fill("#fp16_tflops", "27")
    page.click("#submit")
    page.wait_for_selector("#answer:not([hidden])")
    expected = _expected(live_server, vram="32GB", task="reasoning", hardware_kind="apple",
                         bandwidth_gbs=400, fp16_tflops=27)
    assert page.text_content("#pick-title") == (
        f"Pick: {expected['pick']['model']} at {expected['pick']['quant']}")
    assert page.locator("#chart-speed svg rect.pick-bar").count() == 1


def test_phone_width_prefilled_from_the_url_has_no_sideways_scroll(page_at, live_server):
    page = page_at(390, 844)
    page.goto(f"{live_server}/?vram=16GB&task=reasoning:70,coding:30&hardware={RTX}")
    page.wait_for_selector("#answer:not([hidden])")
    expected = _expected(live_server, vram="16GB", task="reasoning:70,coding:30", hardware=RTX)
    assert page.text_content("#pick-title") == (
        f"Pick: {expected['pick']['model']} at {expected['pick']['quant']}")
    assert page.input_value("#w-coding") == "30"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width}px wide at a 390px viewport"
    save_screenshot(page, SCREENSHOTS / "web-phone.png")
