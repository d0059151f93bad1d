"""The transform on a real standalone Spark cluster: a master and one worker on 127.0.0.1,
started with the pyspark distribution's own launcher (`bin/spark-class`), the lake on the
local filesystem both see. `lakehouse transform` is submitted as docs/spark.md says a
deployment does: `spark-submit --master spark://... --packages <delta> lakehouse/cli/main.py
transform`, the engine chosen by environment (LAKEHOUSE_ENGINE=spark)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakehouse.service import Lakehouse

from support import lake_env, spark_settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _state(ui: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2) as r:
            data: dict[str, Any] = json.load(r)
            return data
    except OSError:
        return None


def _wait(what: str, ok: Any, procs: list[subprocess.Popen[bytes]], deadline_s: float = 180) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if ok():
            return
        for p in procs:
            if p.poll() is not None:
                pytest.fail(f"{what}: {p.args} exited with {p.returncode}")
        time.sleep(0.5)
    pytest.fail(f"{what}: not ready after {deadline_s:.0f} s")


@pytest.fixture(scope="module")
def cluster(spark_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    import pyspark

    home = Path(pyspark.__file__).parent
    work = tmp_path_factory.mktemp("cluster")
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(work)}
    launcher = str(home / "bin" / "spark-class")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with (work / "master.log").open("wb") as log:
            procs.append(subprocess.Popen(
                [launcher, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                 "--webui-port", str(ui)], env=env, stdout=log, stderr=log, start_new_session=True))
        _wait("master", lambda: _state(ui) is not None, procs)
        with (work / "worker.log").open("wb") as log:
            procs.append(subprocess.Popen(
                [launcher, "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}", "--host", "127.0.0.1",
                 "--cores", "1", "--memory", "1g", "--webui-port", str(worker_ui), "--work-dir", str(work / "work")],
                env=env, stdout=log, stderr=log, start_new_session=True))
        _wait("worker", lambda: any(w.get("state") == "ALIVE" for w in (_state(ui) or {}).get("workers", [])), procs)
        yield f"spark://127.0.0.1:{port}", ui
    finally:
        for p in reversed(procs):  # only the processes this fixture started, by their own handle
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_the_transform_runs_on_a_standalone_cluster_and_builds_the_same_lake(
    cluster: tuple[str, int], tmp_path: Path, kit: Any
) -> None:
    master, ui = cluster
    lh = Lakehouse(spark_settings(tmp_path / "lake"))
    kit.deliver(lh, 0)
    import pyspark

    import lakehouse.cli.main as cli
    from lakehouse.pipeline.engines.spark_session import _EXCLUDES, delta_package

    conf = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
            "spark.executor.memory": "768m", "spark.cores.max": "1",
            "spark.jars.ivy": str(lh.settings.spark.jar_cache / "ivy"), "spark.jars.excludes": ",".join(_EXCLUDES)}
    submit = [str(Path(pyspark.__file__).parent / "bin" / "spark-submit"), "--master", master,
              "--name", "lakehouse-cluster-test", "--packages", delta_package(),
              "--driver-java-options", "-Duser.timezone=UTC"]
    for k, v in conf.items():
        submit += ["--conf", f"{k}={v}"]
    env = lake_env(lh.settings, LAKEHOUSE_ENGINE="spark", LAKEHOUSE_SPARK__SHUFFLE_PARTITIONS="2",
                   PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable, COLUMNS="200")
    done = subprocess.run([*submit, cli.__file__, "transform", "--json"], env=env,
                          capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = json.loads(done.stdout[done.stdout.index("["):])
    assert [r["engine"] for r in reports] == ["spark", "spark"]
    state = _state(ui) or {}
    apps = [a["name"] for a in (*state.get("activeapps", []), *state.get("completedapps", []))]
    assert "lakehouse-cluster-test" in apps, apps  # it ran on the cluster, not in local mode
    # The submitted transform runs the contract's checks only (the tests' extra ones are not in its process).
    reference = kit.build(tmp_path / "duck", ("duckdb",), checks=False)
    kit.assert_same_lake(kit.snapshot(reference, quarantine=False), kit.snapshot(lh, quarantine=False),
                         "DuckDB vs a Spark cluster")
