"""A gateway that never migrates does not load the migration store's libraries (SQLAlchemy and its
drivers, about 30 MiB of every `parley serve`): they are imported when a store is first used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from starlette.testclient import TestClient
import gateway.cli
from gateway.app import create_app
from gateway.settings import Settings

with TestClient(create_app(Settings())) as client:
    answer = client.post("/graphql", json={"query": "{ conversations(first: 1) { edges { node { id } } } }"}).json()
    assert answer["data"]["conversations"]["edges"], answer
    print("before", "sqlalchemy" in sys.modules)
    answer = client.post("/graphql", json={"query": "{ migrations(first: 1) { edges { node { id } } } }"}).json()
    assert answer == {"data": {"migrations": {"edges": []}}}, answer
    print("after", "sqlalchemy" in sys.modules)
"""


def test_the_store_libraries_load_only_when_a_migration_field_first_needs_the_store(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["before", "False", "after", "True"]
    assert (tmp_path / "parley-migrations.sqlite").exists()  # the default store, created on that first use
