"""A gateway loads PyJWT (and cryptography) only when a client signs in with a JWT, and redis-py only
when it is given a Redis (`bus_url`): together about 16 MiB of every `parley serve` that uses neither."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = """
import sys, time
from starlette.testclient import TestClient
import gateway.cli
from gateway.app import create_app
from gateway.client_settings import ClientSettings
from gateway.settings import Settings

LIBRARIES = ("jwt", "cryptography", "redis")
kind = sys.argv[1]
if kind == "jwt":
    settings = Settings(clients=(ClientSettings(name="widget", scopes=frozenset({"read"}), jwt_secret="s" * 32),))
else:
    settings = Settings()
with TestClient(create_app(settings)) as client:
    headers = {}
    if kind == "jwt":
        import jwt
        headers["Authorization"] = "Bearer " + jwt.encode({"exp": int(time.time()) + 60}, "s" * 32, algorithm="HS256")
    answer = client.post("/graphql", json={"query": "{ conversations(first: 1) { edges { node { id } } } }"}, headers=headers)
    assert answer.status_code == 200 and answer.json()["data"]["conversations"]["edges"], answer.text
    print(" ".join(name for name in LIBRARIES if name in sys.modules) or "none")
"""


def _loaded(kind: str, tmp_path: Path) -> str:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", CHECK, kind], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_gateway_without_jwt_clients_or_redis_loads_neither_library(tmp_path: Path) -> None:
    assert _loaded("plain", tmp_path) == "none"


def test_a_gateway_with_a_jwt_client_loads_pyjwt_and_verifies_its_tokens(tmp_path: Path) -> None:
    loaded = _loaded("jwt", tmp_path).split()
    assert "jwt" in loaded and "cryptography" in loaded
