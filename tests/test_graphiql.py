"""GraphiQL works without a network: the page Parley serves loads every script and style from
Parley's own path, each file matching the page's integrity hash; while the files are missing the page
says how to get them."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from gateway import graphiql
from gateway.app import create_app
from gateway.settings import Settings

PAGE_HEADERS = {"accept": "text/html"}


def sri(content: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


def template(files: dict[str, bytes]) -> str:
    tags = "\n".join(f'<script src="https://unpkg.com/{path}" integrity="{sri(body)}"></script>' for path, body in files.items())
    return f"<html><head>{tags}</head><body>Loading...</body></html>"


async def fetch_page(app: object) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:  # type: ignore[arg-type]
        return await client.get("/graphql", headers=PAGE_HEADERS)


async def test_the_served_page_loads_nothing_from_another_host_and_every_file_matches_its_hash() -> None:
    if graphiql.missing(graphiql.strawberry_page()):
        if os.environ.get("CI"):
            pytest.fail("GraphiQL's files are missing: `make` fetches them when it installs")
        pytest.skip("GraphiQL's files are not fetched here (python -m gateway.graphiql fetch)")
    app = create_app(Settings(demo_conversations=0))
    page = await fetch_page(app)
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls and all(url.startswith((graphiql.ASSET_PATH, "data:")) for url in urls), urls  # data: the inline icon
    assert "unpkg" not in page.text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://parley.test") as client:
        for url, integrity in re.findall(r'(?:src|href)="([^"]+)"\s+integrity="([^"]+)"', page.text):
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert sri(asset.content) == integrity, url


async def test_while_the_files_are_missing_the_page_says_how_to_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graphiql, "ASSET_DIR", tmp_path / "none")
    page = await fetch_page(create_app(Settings(demo_conversations=0)))
    assert page.status_code == 503
    assert "python -m gateway.graphiql fetch" in page.text and "graphiql@" in page.text
    assert "unpkg" not in page.text


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """A loopback stand-in for the npm registry serving one package's tarball."""
    files = {"widget@1.0.0/dist/widget.js": b"console.log('widget')", "widget@1.0.0/widget.css": b"body{}"}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, body in files.items():
            info = tarfile.TarInfo("package/" + path.split("/", 1)[1])
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    tarball = buffer.getvalue()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/widget/-/widget-1.0.0.tgz"
            self.send_response(200 if found else 404)
            self.end_headers()
            self.wfile.write(tarball if found else b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", files
    server.shutdown()
    server.server_close()


def test_fetch_keeps_each_file_only_when_it_matches_the_pages_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: tuple[str, dict[str, bytes]]
) -> None:
    url, files = registry
    monkeypatch.setattr(graphiql, "REGISTRY", url)
    monkeypatch.setattr(graphiql, "ASSET_DIR", tmp_path / "assets")
    page = template(files)
    assert graphiql.fetch(page) == 2
    assert (tmp_path / "assets" / "widget@1.0.0" / "dist" / "widget.js").read_bytes() == files["widget@1.0.0/dist/widget.js"]
    assert graphiql.fetch(page) == 0  # already there
    assert graphiql.offline_page(page).body.decode().count(graphiql.ASSET_PATH) == 2

    monkeypatch.setattr(graphiql, "ASSET_DIR", tmp_path / "tampered")
    tampered = template({**files, "widget@1.0.0/widget.css": b"body{color:red}"})
    with pytest.raises(ValueError, match="widget@1.0.0/widget.css: does not match the page's integrity hash"):
        graphiql.fetch(tampered)
