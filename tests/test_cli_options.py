"""`parley` options: version, help with defaults, config and log level, and the "listening" banner only
once the address is bound."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main

from .helpers import free_port


def run_cli(*args: str, cwd: Path, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.startswith("parley ")


def test_serve_help_shows_each_option_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for expected in ("--config", "--log-level", "server.log_level, else info", "--workers", "(default: 1)",
                     "else 127.0.0.1", "else 8000"):
        assert expected in text


def test_sandbox_help_names_each_sandboxs_own_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sandbox", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "socialboards 8101, infobip 8102, clevertap 8103" in text


def test_a_missing_config_file_is_a_bad_setting(tmp_path: Path) -> None:
    result = run_cli("serve", "--config", str(tmp_path / "nowhere.toml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "bad setting: --config: no such file" in result.stderr


def test_the_config_option_is_the_file_read(tmp_path: Path) -> None:
    (tmp_path / "other.toml").write_text('[server]\nhost = "0.0.0.0"\n')
    result = run_cli("serve", "--config", str(tmp_path / "other.toml"), cwd=tmp_path)
    assert result.returncode == 2  # read: its host is refused without clients
    assert "server.host '0.0.0.0'" in result.stderr


def test_an_unknown_log_level_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["serve", "--log-level", "loud"])
    assert exit.value.code == 2
    assert "invalid choice: 'loud'" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["sandbox", "infobip"], ["serve"]])
def test_no_banner_when_the_port_is_taken(tmp_path: Path, command: list[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(*command, "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 3  # uvicorn's start-up failure
    assert "http://" not in result.stdout
    assert "address already in use" in result.stderr.lower()


def test_the_banner_follows_a_successful_bind(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    process = subprocess.Popen([sys.executable, "-m", "gateway.cli", "sandbox", "clevertap", "--port", str(port)],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"clevertap sandbox on http://127.0.0.1:{port}/")
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # bound and accepting when the banner appeared
    finally:
        process.terminate()
        process.communicate(timeout=10)
