"""`lakehouse transform --engine spark` from the command line: one line, not a traceback, when
Spark cannot run; an unknown engine is a user mistake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import lake_env, make_settings


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lakehouse.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_missing_java_is_one_line_saying_what_to_install(tmp_path: Path) -> None:
    env = lake_env(make_settings(tmp_path / "lake"))
    env.pop("JAVA_HOME", None)
    env["PATH"] = str(tmp_path / "empty-bin")  # no java on it
    env["COLUMNS"] = "200"  # the terminal's width, not the message, decides where Rich wraps
    for args, extra in ((["transform", "--engine", "spark"], {}), (["transform"], {"LAKEHOUSE_ENGINE": "spark"})):
        done = run(args, {**env, **extra})
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Java 17" in lines[0] and "openjdk-17" in lines[0], done.stderr
        assert "Traceback" not in done.stderr


def test_an_unknown_engine_is_a_user_mistake(tmp_path: Path) -> None:
    env = lake_env(make_settings(tmp_path / "lake"))
    done = run(["transform", "--engine", "flink"], env)
    assert done.returncode == 1 and "unknown engine 'flink'" in done.stderr and "Traceback" not in done.stderr
    done = run(["transform"], {**env, "LAKEHOUSE_ENGINE": "flink"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert os.environ.get("LAKEHOUSE_ENGINE") != "flink"
