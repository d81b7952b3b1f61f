"""Browser tests: Debian's Chromium driven by Playwright, against a real ``tongban serve`` process.

Chromium and the CJK fonts come from Debian (``make browser`` installs them); a browser is never downloaded.
Screenshots go to ``test-artifacts/`` (not committed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import TEST_SECRET_KEY, missing_service
from tongban.chaos.cluster import free_port

CHROMIUM = os.environ.get("TONGBAN_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


class LiveServer:
    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The same node secret as ``test_settings``, so data a test prepared with it (accounts, second
        # factors) opens in the server.
        env = {
            **os.environ,
            "TONGBAN_DATA_DIR": str(data_dir),
            "TONGBAN_SECRET_KEY": TEST_SECRET_KEY,
            **(extra_env or {}),
        }
        self.log = (data_dir / "server.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tongban", "serve", "--data-dir", str(data_dir), "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(data_dir / 'server.log').read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not start within 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# Module scope, not session: Playwright's sync API keeps an asyncio loop running in the worker's main thread
# while it is open, and later tests of other modules in the same worker (the exchange's) need that thread free.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        missing_service(f"Chromium at {CHROMIUM} (`make browser` installs it)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
