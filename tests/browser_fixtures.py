"""Fixtures for the browser test: the real service on a free loopback port, headless Chromium.

Chromium comes from Debian (``apt-get install chromium``, /usr/bin/chromium) and is driven by
Playwright for Python; ``playwright install`` (which downloads browsers) is never needed.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from advisor.service.app import create_app
from advisor.vocabulary.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module", name="live_server")
def live_server_fixture(fake_advisor) -> Iterator[str]:
    """Base URL of the service (create_app + mount_web, fake advisor) run by uvicorn."""
    app = create_app(Settings(), advisor_factory=lambda _: fake_advisor)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.05)
    httpx.get(f"{base}/health", timeout=5).raise_for_status()
    yield base
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Any]:
    """Headless Chromium (skipped, saying what to install, when /usr/bin/chromium is absent)."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                      headless=True)
        yield chromium
        chromium.close()


def save_screenshot(page: Any, path: Path) -> Path:
    """A full-page screenshot as a small PNG (256-colour palette); returns ``path``."""
    from PIL import Image

    raw = page.screenshot(full_page=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path
