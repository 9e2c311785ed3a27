"""Jobs in processes of their own: commands in turn, a deadline that stops them resumably, every attempt kept."""

from __future__ import annotations

import json
import shlex
import sys
import threading
import time
from pathlib import Path

import curve_points.jobs as jobs_module
from curve_points.jobs import Job, attempts, finished, run_jobs


def job(folder: Path, commands: list[list[str]]) -> Job:
    return Job(folder.name, folder, commands, [shlex.join(c) for c in commands], {"job": folder.name})


def test_a_job_runs_its_commands_in_turn_and_the_deadline_stops_it_resumably(tmp_path: Path) -> None:
    python = [sys.executable, "-c"]
    handled = "import signal, sys, time; signal.signal(signal.SIGINT, lambda *_: sys.exit(130)); time.sleep(60)"
    jobs = [
        job(tmp_path / "a", [[*python, "print('one')"], [*python, "print('two')"]]),
        job(tmp_path / "b", [[*python, "raise SystemExit(3)"], [*python, "print('x')"]]),
        job(tmp_path / "c", [[*python, handled]]),
    ]
    run_jobs(jobs, parallel=3, seconds=5, env={})
    assert finished(tmp_path / "a") and (tmp_path / "a" / "log.txt").read_text().count("\n") == 4  # 2 commands, 2 lines
    assert json.loads((tmp_path / "a" / "train.json").read_text())["job"] == "a"
    run_jobs([job(tmp_path / "a", [[*python, "print('again')"]])], parallel=1, seconds=None, env={})
    assert [a["returncodes"] for a in attempts(tmp_path / "a")] == [[0, 0], [0]]  # a rerun adds an attempt
    tried = json.loads((tmp_path / "b" / "train.json").read_text())["attempts"]
    assert tried[-1]["returncodes"] == [3] and not tried[-1]["finished"]  # the second command never ran
    stopped = json.loads((tmp_path / "c" / "train.json").read_text())["attempts"][-1]
    # Ctrl-C reached the job's own handler, where a vaegan step checkpoints, well before the kill
    assert stopped["returncodes"] == [130] and stopped["stopped_by_deadline"] and stopped["wall_seconds"] < 15


def test_an_attempt_is_on_record_while_it_runs(tmp_path: Path, monkeypatch) -> None:
    """A session killed mid-attempt leaves its wall-clock to the last heartbeat in train.json, not nothing."""
    monkeypatch.setattr(jobs_module, "HEARTBEAT", 0.5)
    folder = tmp_path / "slow"
    slow = job(folder, [[sys.executable, "-c", "import time; time.sleep(4)"]])
    runner = threading.Thread(target=run_jobs, args=([slow], 1, None, {}))
    runner.start()
    time.sleep(2.5)
    during = attempts(folder)
    runner.join()
    assert len(during) == 1 and during[0]["running"] and not during[0]["finished"]
    assert 1.0 <= during[0]["wall_seconds"] < 4.0
    after = attempts(folder)
    assert len(after) == 1 and not after[0]["running"] and after[0]["finished"] and after[0]["wall_seconds"] >= 4.0
    # the machine's load beside it, sampled at each heartbeat: the sleeping job itself adds none
    assert during[0]["load"] is not None and after[0]["load"] >= 0 and after[0]["cores"] >= 1
