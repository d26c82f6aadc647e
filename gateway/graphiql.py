"""GraphiQL without a network: strawberry's GraphiQL page loads pinned scripts and styles from a CDN;
Parley serves the same files from its own path, `/graphiql-assets/`, so the page works offline.

The files are not in the repository: `python -m gateway.graphiql fetch` (run by `make` when it
installs) takes each pinned package from the npm registry once, checks every file against the
page's own `integrity` (SRI) hash and keeps it under `gateway/static/graphiql/`. Without them the
page says how to get them instead of staying on "Loading...".
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from starlette.responses import HTMLResponse

CDN = "https://unpkg.com/"
ASSET_PATH = "/graphiql-assets/"
ASSET_DIR = Path(__file__).resolve().parent / "static" / "graphiql"
REGISTRY = "https://registry.npmjs.org/"
FETCH_TIMEOUT_SECONDS = 60
_ASSET = re.compile(r'(?:src|href)="https://unpkg\.com/((@?[^@"/]+(?:/[^@"/]+)?)@([^/"]+)/([^"]+))"\s+integrity="([^"]+)"')


@dataclass(frozen=True)
class Asset:
    path: str  # "<package>@<version>/<file>", as after the CDN's address
    package: str
    version: str
    file: str
    integrity: str  # "sha384-<base64>"

    @property
    def local(self) -> Path:
        return ASSET_DIR / self.path

    def matches(self, content: bytes) -> bool:
        algorithm, _, expected = self.integrity.partition("-")
        return base64.b64encode(hashlib.new(algorithm, content).digest()).decode() == expected


def assets(page: str) -> list[Asset]:
    """Every CDN file the page loads, with its SRI hash."""
    return [Asset(path, package, version, file, integrity)
            for path, package, version, file, integrity in _ASSET.findall(page)]


def missing(page: str) -> list[Asset]:
    return [asset for asset in assets(page) if not asset.local.is_file()]


def offline_page(page: str) -> HTMLResponse:
    """The page with its CDN addresses turned into Parley's own; a plain explanation while the files
    are missing."""
    absent = missing(page)
    if absent:
        names = ", ".join(sorted({f"{a.package}@{a.version}" for a in absent}))
        return HTMLResponse(
            "<!doctype html><title>GraphiQL</title><p>GraphiQL's files are not installed here "
            f"({names}). Run <code>make install</code> or <code>python -m gateway.graphiql fetch</code> once "
            "with access to the npm registry; until then POST queries to this address.</p>",
            status_code=503,
        )
    return HTMLResponse(page.replace(CDN, ASSET_PATH))


def fetch(page: str) -> int:
    """Downloads the missing files; the number fetched. Raises ValueError on an SRI mismatch."""
    wanted = missing(page)
    by_package: dict[tuple[str, str], list[Asset]] = {}
    for asset in wanted:
        by_package.setdefault((asset.package, asset.version), []).append(asset)
    for (package, version), files in by_package.items():
        tarball = _download(f"{REGISTRY}{package}/-/{package.rsplit('/', 1)[-1]}-{version}.tgz")
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            for asset in files:
                member = archive.extractfile(f"package/{asset.file}")
                content = member.read() if member else b""
                if not asset.matches(content):
                    raise ValueError(f"{asset.path}: does not match the page's integrity hash")
                asset.local.parent.mkdir(parents=True, exist_ok=True)
                asset.local.write_bytes(content)
    return len(wanted)


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310 (a fixed https URL)
        data: bytes = response.read()
    return data


def strawberry_page() -> str:
    from strawberry.http.ides import get_graphql_ide_html

    return get_graphql_ide_html(graphql_ide="graphiql")


def main(argv: list[str]) -> int:
    if argv != ["fetch"]:
        print("usage: python -m gateway.graphiql fetch", file=sys.stderr)
        return 2
    try:
        count = fetch(strawberry_page())
    except (OSError, ValueError) as exc:
        print(f"parley: GraphiQL's files were not fetched ({exc}); GraphiQL will say so until they are", file=sys.stderr)
        return 1
    print(f"GraphiQL: {count} file(s) fetched into {ASSET_DIR}" if count else "GraphiQL: files already present")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
