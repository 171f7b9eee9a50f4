"""The page's "Download and run" part in headless Chromium: the repo link and the llama.cpp
command lines of the API's pick, each with a working copy button."""

from __future__ import annotations

import httpx
import pytest
from browser_fixtures import (  # noqa: F401  (registers `browser` and `live_server`)
    browser_fixture,
    live_server_fixture,
)


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.mark.parametrize("cache_type", ["f16", "q4_0"])
def test_run_command_is_shown_with_a_copy_button(page, live_server, cache_type):
    params = {"vram": "24GB", "task": "reasoning", "cache_type": cache_type}
    expected = httpx.get(f"{live_server}/v1/recommend", params=params, timeout=30).json()["pick"]
    page.goto(f"{live_server}/?vram=24GB&task=reasoning&cache_type={cache_type}")
    page.wait_for_selector("body[data-ready='true']")
    page.click("#submit")
    page.wait_for_selector("#answer:not([hidden])")

    assert page.text_content("#run-server") == expected["run"]["llama_server"]
    assert page.text_content("#run-cli") == expected["run"]["llama_cli"]
    assert page.get_attribute("#download a", "href") == expected["download"]["url"]
    assert expected["download"]["repo"] in page.text_content("#download")
    if cache_type == "q4_0":
        assert "-fa on" in page.text_content("#run-server")

    button = page.get_by_role("button", name="Copy the llama-server command")
    button.click()
    page.wait_for_function("() => [...document.querySelectorAll('button.copy')]"
                           ".some((b) => b.textContent === 'Copied')")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == expected["run"]["llama_server"]
