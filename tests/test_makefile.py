"""`make serve` and `make test` started together must not install into `.venv` at the same time:
the install runs under a lock and the second make finds the stamp fresh. Checked with a stand-in
Python whose `venv` and `pip` only log when they run (no network)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FAKE_PYTHON = """#!/bin/sh
# stand-in for `python3 -m venv DIR`: a venv whose pip logs its runs and takes a while
mkdir -p "$3/bin"
cat > "$3/bin/pip" <<'PIP'
#!/bin/sh
echo "start $$" >> "$PIP_LOG"
sleep 1
echo "end $$" >> "$PIP_LOG"
PIP
chmod +x "$3/bin/pip"
"""


@pytest.mark.skipif(shutil.which("flock") is None or shutil.which("make") is None, reason="needs make and flock")
def test_two_makes_started_together_install_once_and_never_overlap(tmp_path: Path) -> None:
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    log = tmp_path / "pip.log"
    command = ["make", "-C", str(ROOT), "--no-print-directory", f"VENV={tmp_path / 'venv'}", f"PYTHON={python}",
               f"STAMP={tmp_path / 'venv' / '.installed'}", str(tmp_path / "venv" / ".installed")]
    env = {"PATH": "/usr/bin:/bin", "PIP_LOG": str(log)}
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    outputs = [process.communicate(timeout=30)[0].decode() for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    events = log.read_text().split()
    # one install: `pip install --upgrade pip` then `pip install -e .[test]`, each start followed by its end
    assert [word for word in events if word in ("start", "end")] == ["start", "end", "start", "end"]
    assert (tmp_path / "venv" / ".installed").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_test_type_checks_then_runs_pytest_showing_why_tests_were_skipped(tmp_path: Path) -> None:
    stamp = tmp_path / ".installed"
    stamp.touch()  # installed: only the test recipe is shown
    shown = subprocess.run(["make", "-C", str(ROOT), "-n", "--no-print-directory", f"STAMP={stamp}", "test"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert [line.split()[0].rsplit("/", 1)[-1] for line in shown] == ["mypy", "python"]
    assert "pytest" in shown[1] and "-rs" in shown[1].split()  # the summary names each skip and its reason
