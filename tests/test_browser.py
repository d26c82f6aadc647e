"""A real browser on another origin: headless Chromium (Debian's, driven by playwright) opens a page
served from one loopback port whose own script uses Parley on another: a query and a mutation over
fetch, and the mutation's message arriving on a graphql-transport-ws WebSocket and on an SSE stream.
The same page from an origin Parley does not list can neither fetch nor open the WebSocket.

Skipped where /usr/bin/chromium is missing, unless PARLEY_REQUIRE_BROWSER is set (`.ci/run` installs
Chromium and sets it), where that fails instead."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from gateway.app import create_app
from gateway.settings import Settings

from .helpers import uvicorn_serving

CHROMIUM = Path("/usr/bin/chromium")
# Root needs --no-sandbox; the rest keep Chromium from reaching for Google's hosts (tests stay on loopback).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PAGE = Path(__file__).parent / "browser"
BROWSER_SECONDS = 20  # for each page.evaluate; the whole test takes about 2 s


def require_browser() -> Any:
    """playwright's async API, or a skip (a failure under PARLEY_REQUIRE_BROWSER) saying what is missing."""
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is not installed (apt-get install chromium)"
    else:
        try:
            from playwright.async_api import async_playwright
        except ImportError:
            missing = "the playwright package is not installed (pip install playwright; no browser download needed)"
    if missing is not None:
        if os.environ.get("PARLEY_REQUIRE_BROWSER"):
            pytest.fail(f"{missing}, and PARLEY_REQUIRE_BROWSER is set")
        pytest.skip(f"{missing}: the real-browser test needs it")
    return async_playwright


@contextlib.asynccontextmanager
async def served(app: ASGIApp) -> AsyncIterator[str]:
    """`app` under uvicorn on a free loopback port, lifespan included; its origin."""
    async with uvicorn_serving(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")) as origin:
        yield origin


def page_app() -> Starlette:
    app = Starlette()
    app.mount("/", StaticFiles(directory=PAGE, html=True))
    return app


async def test_a_page_on_a_listed_origin_queries_mutates_and_subscribes_and_one_elsewhere_is_refused() -> None:
    async_playwright = require_browser()
    async with contextlib.AsyncExitStack() as stack:
        page_origin = await stack.enter_async_context(served(page_app()))
        other_origin = await stack.enter_async_context(served(page_app()))
        gateway = create_app(Settings(demo_conversations=4, cors_origins=(page_origin,)))
        graphql = f"{await stack.enter_async_context(served(gateway))}/graphql"
        playwright = await stack.enter_async_context(async_playwright())
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        stack.push_async_callback(browser.close)
        page = await browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))

        await page.goto(f"{page_origin}/")
        used = await asyncio.wait_for(page.evaluate("url => parley.run(url)", graphql), BROWSER_SECONDS)
        await page.goto(f"{other_origin}/")
        refused = await asyncio.wait_for(page.evaluate("url => parley.refused(url)", graphql), BROWSER_SECONDS)

    assert problems == []
    assert used["origin"] == page_origin != other_origin
    assert used["inbox"]["status"] == 200 and used["conversation"]["provider"] == "socialboards", used["inbox"]
    added = used["added"]["body"]["data"]["addMessages"]
    assert added["__typename"] == "AddMessagesPayload", added
    assert [m["text"] for m in added["messages"]] == [used["text"]]
    assert used["wsOpen"] == {"protocol": "graphql-transport-ws"}
    assert used["sseOpen"]["status"] == 200 and used["sseOpen"]["contentType"].startswith("text/event-stream")
    over_ws, over_sse = used["ws"]["data"]["messageAdded"], used["sse"]["data"]["messageAdded"]
    assert over_ws["message"]["text"] == over_sse["message"]["text"] == used["text"]
    assert over_ws["cursor"] == over_sse["cursor"]  # one event, delivered on both transports

    assert refused["origin"] == other_origin
    assert refused["fetched"] == {"error": "TypeError: Failed to fetch"}  # the preflight was refused
    assert refused["socket"] == {"opened": False, "code": 1006}  # the handshake was refused
