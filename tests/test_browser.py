"""The web page in headless Chromium against the real service (fake predictors).

Screenshots (desktop and phone width) go to a temporary folder; with
ADVISOR_UPDATE_SCREENSHOTS=1 they replace the committed ones in docs/screenshots/.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

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
    assert bars.count() == sum(p["model"] == pick["model"] and p["mode"] == pick["mode"]
                               for p in candidates["points"])
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
    ({"#threads": "2"}, "threads", "threads needs the hardware"),
    ({"#hardware": RTX, "#threads": "0"}, "threads", "greater than or equal to 1"),
    ({"#hardware": RTX, "#devices": "17"}, "devices", "less than or equal to 16"),
    ({"#hardware": RTX, "#devices": "0"}, "devices", "greater than or equal to 1"),
    ({"#devices": "2"}, "devices", "devices needs the hardware"),
    ({"#hardware": RTX, "#ram": "lots"}, "ram", "ram must be a size"),
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


def _api_queries(page, live_server) -> dict[str, dict[str, list[str]]]:
    """The query of the last /v1/recommend and /v1/candidates call the page made."""
    found = {}
    for url in page.requested:
        parts = urlsplit(url)
        if parts.path in ("/v1/recommend", "/v1/candidates"):
            found[parts.path] = parse_qs(parts.query)
    assert set(found) == {"/v1/recommend", "/v1/candidates"}, page.requested
    return found


def _ask_for_a_cpu(page, live_server, threads: str) -> None:
    page.goto(f"{live_server}/")
    page.wait_for_selector("body[data-ready='true']")
    assert page.input_value("#threads") == ""
    page.select_option("#hardware", "__specs__")
    page.select_option("#hardware_kind", "cpu")
    page.fill("#bandwidth_gbs", "83.2")
    if threads:
        page.fill("#threads", threads)
    page.click("#submit")
    page.wait_for_selector("#answer:not([hidden])")


def test_cpu_threads_are_sent_shown_and_kept_in_the_url(page_at, live_server):
    page = page_at()
    _ask_for_a_cpu(page, live_server, "2")
    for query in _api_queries(page, live_server).values():
        assert query["threads"] == ["2"] and query["hardware_kind"] == ["cpu"]
    expected = _expected(live_server, vram="24GB", task="reasoning", hardware_kind="cpu",
                         bandwidth_gbs=83.2, threads=2)
    assert expected["request"]["threads"] == 2
    assert page.text_content("#pick-title") == (
        f"Pick: {expected['pick']['model']} at {expected['pick']['quant']}")
    assert "2 threads" in page.text_content("#speed-device")
    assert "(cpu), 2 threads" in page.text_content("#chart-speed h3")
    url = page.url
    assert parse_qs(urlsplit(url).query)["threads"] == ["2"]

    phone = page_at(390, 844)  # the URL alone gives the same answer, at phone width
    phone.goto(url)
    phone.wait_for_selector("#answer:not([hidden])")
    assert phone.input_value("#threads") == "2"
    assert phone.input_value("#hardware") == "__specs__"
    assert "2 threads" in phone.text_content("#speed-device")
    assert _api_queries(phone, live_server)["/v1/recommend"]["threads"] == ["2"]
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width}px wide at a 390px viewport"


def test_empty_threads_field_sends_no_threads(page_at, live_server):
    page = page_at()
    _ask_for_a_cpu(page, live_server, "")
    for query in _api_queries(page, live_server).values():
        assert "threads" not in query and query["hardware_kind"] == ["cpu"]
    assert "threads" not in parse_qs(urlsplit(page.url).query)
    assert "thread" not in page.text_content("#speed-device")
    assert "thread" not in page.text_content("#chart-speed h3")


def _ask_for_gpus(page, live_server, devices: str) -> None:
    page.goto(f"{live_server}/")
    page.wait_for_selector("body[data-ready='true']")
    assert page.input_value("#devices") == ""
    page.fill("#vram", "48GB")
    page.select_option("#hardware", RTX)
    if devices:
        page.fill("#devices", devices)
    page.click("#submit")
    page.wait_for_selector("#answer:not([hidden])")


def test_gpu_count_is_sent_shown_and_kept_in_the_url(page_at, live_server):
    page = page_at()
    _ask_for_gpus(page, live_server, "2")
    for query in _api_queries(page, live_server).values():
        assert query["devices"] == ["2"] and query["hardware"] == [RTX]
    expected = _expected(live_server, vram="48GB", task="reasoning", hardware=RTX, devices=2)
    assert expected["request"]["n_devices"] == 2
    assert page.text_content("#pick-title") == (
        f"Pick: {expected['pick']['model']} at {expected['pick']['quant']}")
    assert page.text_content("#speed-device") == f"On 2 x {RTX}:"
    assert f"on 2 x {RTX}" in page.text_content("#chart-speed h3")
    url = page.url
    assert parse_qs(urlsplit(url).query)["devices"] == ["2"]

    again = page_at()  # the URL alone gives the same answer
    again.goto(url)
    again.wait_for_selector("#answer:not([hidden])")
    assert again.input_value("#devices") == "2" and again.input_value("#hardware") == RTX
    assert again.text_content("#speed-device") == f"On 2 x {RTX}:"
    assert _api_queries(again, live_server)["/v1/recommend"]["devices"] == ["2"]


@pytest.mark.parametrize("devices", ["", "1"])
def test_one_gpu_sends_no_devices(page_at, live_server, devices):
    page = page_at()
    _ask_for_gpus(page, live_server, devices)
    for query in _api_queries(page, live_server).values():
        assert "devices" not in query
    assert "devices" not in parse_qs(urlsplit(page.url).query)
    assert page.text_content("#speed-device") == f"On {RTX}:"


def test_mode_and_ram_are_sent_and_a_split_pick_says_where_it_runs(page_at, live_server):
    page = page_at()
    page.goto(f"{live_server}/")
    page.wait_for_selector("body[data-ready='true']")
    page.fill("#vram", "8GB")
    page.select_option("#hardware", RTX)
    page.select_option("#mode", "thinking")
    page.fill("#ram", "64GB")
    page.click("#submit")
    page.wait_for_selector("#answer:not([hidden])")
    for query in _api_queries(page, live_server).values():
        assert query["mode"] == ["thinking"] and query["ram"] == ["64GB"]
    expected = _expected(live_server, vram="8GB", task="reasoning", hardware=RTX,
                         mode="thinking", ram="64GB")
    pick = expected["pick"]
    assert pick["mode"] == "thinking" and pick["placement"] is not None
    summary = page.text_content("#pick-summary")
    assert "thinking mode" in summary and "runs split" in summary
    assert " ".join(pick["placement"]["flags"]) in summary
    assert parse_qs(urlsplit(page.url).query)["ram"] == ["64GB"]

    again = page_at()  # the URL alone gives the same answer
    again.goto(page.url)
    again.wait_for_selector("#answer:not([hidden])")
    assert again.input_value("#ram") == "64GB" and again.input_value("#mode") == "thinking"
