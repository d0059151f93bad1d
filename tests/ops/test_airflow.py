"""The exported Airflow DAG parses, has the scheduler's tasks and edges, and passes ruff's AIR rules."""

from __future__ import annotations

import ast
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.config import JobSchedule, ScheduleSettings
from lakehouse.exceptions import ConfigError
from lakehouse.ops.airflow import dag_source
from lakehouse.ops.scheduler import NAMES, plan

RUFF = Path(sys.executable).with_name("ruff")
CRONS = ["*/10 * * * *", "*/5 * * * *", "0 * * * *", "15 */2 * * *", "0 2 * * *", "30 3 * * 1", "0 4 1 * *"]


def parse(source: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]], set[tuple[str, str]]]:
    """The DAG(...) keywords, each task's keywords by task_id, and the `a >> b` edges."""
    tree = ast.parse(source)
    compile(tree, "lakehouse_dag.py", "exec")
    dag: dict[str, Any] = {}
    tasks: dict[str, dict[str, Any]] = {}
    edges: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            if node.func.id == "DAG":
                dag = kw
            elif node.func.id == "BashOperator":
                tasks[ast.literal_eval(kw["task_id"])] = kw
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            call = node.value
            if isinstance(call.func, ast.Name) and call.func.id == "BashOperator":
                target = node.targets[0]
                assert isinstance(target, ast.Name)
                task_id = ast.literal_eval(next(k.value for k in call.keywords if k.arg == "task_id"))
                assert target.id == task_id  # the variable is the task id (AIR001)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.BinOp) and isinstance(node.value.op, ast.RShift):
            a, b = node.value.left, node.value.right
            assert isinstance(a, ast.Name) and isinstance(b, ast.Name)
            edges.add((a.id, b.id))
    return dag, tasks, edges


def check(source: str, cfg: ScheduleSettings) -> None:
    dag, tasks, edges = parse(source)
    jobs = plan(cfg)
    assert set(tasks) == {j.name for j in jobs}
    assert edges == {(a, j.name) for j in jobs for a in j.after}
    assert ast.literal_eval(dag["catchup"]) is False and ast.literal_eval(dag["max_active_runs"]) == 1
    schedule = dag["schedule"]
    assert isinstance(schedule, ast.Call) and ast.literal_eval(schedule.args[0]) in {j.cron for j in jobs}
    args = dag["default_args"]
    assert isinstance(args, ast.Dict)
    defaults = {ast.literal_eval(k): v for k, v in zip(args.keys, args.values, strict=True) if k is not None}
    assert ast.literal_eval(defaults["retries"]) == cfg.retries
    for j in jobs:
        command = tasks[j.name]["bash_command"]
        assert isinstance(command, ast.BinOp)
        assert ast.literal_eval(command.left).endswith(f"schedule run {j.name} ")
        rule = tasks[j.name].get("trigger_rule")
        assert (ast.literal_eval(rule) if rule else None) == ("none_failed" if j.after else None)


def ruff_air(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RUFF), "check", "--isolated", "--no-cache", "--select", "AIR,F,E9", str(path)],
                          capture_output=True, text=True)


def test_the_default_schedule_exports_and_passes_ruff_air(tmp_path: Path) -> None:
    source = dag_source(ScheduleSettings())
    check(source, ScheduleSettings())
    path = tmp_path / "lakehouse_dag.py"
    path.write_text(source)
    for extra in ([], ["--preview"]):
        p = subprocess.run([str(RUFF), "check", "--isolated", "--no-cache", "--select", "AIR", *extra, str(path)],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr


@settings(max_examples=25, deadline=None)
@given(
    crons=st.fixed_dictionaries({n: st.sampled_from(CRONS) for n in NAMES}),
    enabled=st.fixed_dictionaries({n: st.booleans() for n in NAMES}),
    retries=st.integers(min_value=0, max_value=9),
    command=st.sampled_from(["lakehouse", "/opt/lake venv/bin/lakehouse", "python -m lakehouse.cli.main"]),
)
def test_any_schedule_exports_its_tasks_and_edges(crons: dict[str, str], enabled: dict[str, bool], retries: int,
                                                  command: str) -> None:
    cfg = ScheduleSettings(retries=retries, **{n: JobSchedule(cron=crons[n], enabled=enabled[n]) for n in NAMES})
    if not plan(cfg):
        with pytest.raises(ConfigError):
            dag_source(cfg)
        return
    source = dag_source(cfg, command=command)
    check(source, cfg)
    cli = " ".join(shlex.quote(p) for p in command.split())
    assert all(ast.literal_eval(parse(source)[1][j.name]["bash_command"].left).startswith(cli) for j in plan(cfg))


def test_the_cli_prints_a_dag_that_passes_ruff_air(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "lakehouse.cli.main", "export", "airflow", "--dag-id", "lake_prod"],
                       capture_output=True, text=True, env={"LAKEHOUSE_BASE_PATH": str(tmp_path / "lake"),
                                                            "LAKEHOUSE_SCHEDULE__GOLD__CRON": "30 1 * * *",
                                                            "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    path = tmp_path / "dags" / "lakehouse.py"
    path.parent.mkdir()
    path.write_text(p.stdout)
    dag, tasks, _ = parse(p.stdout)
    assert ast.literal_eval(dag["dag_id"]) == "lake_prod" and "gold" in tasks and "30 1 * * *" in p.stdout
    r = ruff_air(path)
    assert r.returncode == 0, r.stdout + r.stderr
