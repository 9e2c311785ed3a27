"""Training jobs in processes of their own, several at once, stopped resumably at a deadline.

A job is commands run in turn in a folder (curve.py's: `vaegan run`, or `vaegan train-vae` then the prior's
fit), their output appended to FOLDER/log.txt. At the deadline every running job gets Ctrl-C, which vaegan
turns into a checkpoint of the step it is at and exit 130, and GRACE seconds later a kill; jobs not yet
started stay so. Each attempt at a job is written to FOLDER/train.json as it starts and every HEARTBEAT
seconds while it runs: its commands, exit codes, the device, how many jobs ran at once, the machine's load
beside them (other work included) and its wall-clock.
So a job run again over its folder resumes and keeps the whole history, and an attempt killed with its
session (no deadline, no Ctrl-C) still counts its wall-clock to the last heartbeat, marked "running".
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from throughput import machine_kind

GRACE = 20.0  # seconds a stopped job has to checkpoint (a step and a save: about a second on a GPU)
HEARTBEAT = 60.0  # seconds between rewrites of a running attempt: what a killed session can lose of its wall-clock


@dataclass
class Job:
    name: str
    folder: Path
    commands: list[list[str]]
    shown: list[str]  # the commands as a user types them, for the log and train.json
    facts: dict[str, Any] = field(default_factory=dict)  # what train.json says the job is
    process: subprocess.Popen[bytes] | None = None
    codes: list[int] = field(default_factory=list)
    started: float = 0.0
    stopped: bool = False  # the deadline interrupted it
    attempt: int | None = None  # this attempt's index in train.json, once written
    written: float = 0.0  # when it was last written
    loads: list[float] = field(default_factory=list)  # the 1-minute load average at each heartbeat and the end

    def start_next(self, env: dict[str, str]) -> None:
        k = len(self.codes)
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "log.txt").open("ab") as log:
            log.write(f"$ {self.shown[k]}\n".encode())
            log.flush()
            # a session of its own: the deadline's Ctrl-C reaches the job and its children, not this process
            self.process = subprocess.Popen(
                self.commands[k], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)


def train_record(folder: Path) -> dict[str, Any]:
    """The folder's train.json: the point, its attempts and any stage reused from an earlier run; {} before one."""
    path = folder / "train.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def attempts(folder: Path) -> list[dict[str, Any]]:
    return train_record(folder).get("attempts", [])


def finished(folder: Path) -> bool:
    """Whether the job's last attempt ran every command to its end."""
    tried = attempts(folder)
    return bool(tried) and tried[-1]["finished"]


def write_attempt(job: Job, device: str, at_once: int, running: bool) -> None:
    """The job's attempt in train.json, appended the first time and rewritten in place after; from the first
    heartbeat on it samples the load, so the record says what else shared the machine with its wall-clock."""
    if job.attempt is not None:
        job.loads.append(os.getloadavg()[0])
    attempt = {
        "commands": job.shown,
        "returncodes": job.codes,
        "finished": len(job.codes) == len(job.commands) and not any(job.codes),
        "stopped_by_deadline": job.stopped,
        "running": running,  # still true in train.json: the attempt died with its session
        "device": device,
        "jobs_at_once": at_once,
        "load": round(sum(job.loads) / len(job.loads), 2) if job.loads else None,  # mean over the attempt
        "cores": len(os.sched_getaffinity(0)),
        "wall_seconds": round(time.monotonic() - job.started, 1),
    }
    kept = train_record(job.folder)
    tried = kept.get("attempts", [])
    if job.attempt is None:
        job.attempt = len(tried)
        tried.append(attempt)
    else:
        tried[job.attempt] = attempt
    job.written = time.monotonic()
    record = {**kept, **job.facts, "attempts": tried}  # kept: what else it says, such as a reused stage
    tmp = job.folder / "train.json.tmp"
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(job.folder / "train.json")  # atomic: a kill mid-write leaves the last whole record


def run_jobs(jobs: list[Job], parallel: int, seconds: float | None, env: dict[str, str]) -> None:
    """Each job's commands in turn, `parallel` jobs at once, until done or `seconds` have passed."""
    from vaegan.progress import progress_bar

    device = machine_kind(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    queue, running, end, kill_at = list(jobs), list[Job](), time.monotonic() + (seconds or math.inf), math.inf
    with progress_bar(len(jobs), "jobs", unit="job") as bar:
        while queue or running:
            now = time.monotonic()
            if now >= end and kill_at == math.inf:
                print(f"deadline: stopping {len(running)} running job(s); {len(queue)} not started", flush=True)
                queue.clear()
                for job in running:
                    job.stopped = True
                    job.signal(signal.SIGINT)
                kill_at = now + GRACE
            if now >= kill_at:
                for job in running:
                    job.signal(signal.SIGKILL)
            while queue and len(running) < parallel:
                job = queue.pop(0)
                job.started = now
                job.start_next(env)
                write_attempt(job, device, parallel, running=True)
                running.append(job)
            for job in list(running):
                assert job.process is not None
                code = job.process.poll()
                if code is None:
                    if now - job.written >= HEARTBEAT:
                        write_attempt(job, device, parallel, running=True)
                    continue
                job.codes.append(code)
                if code == 0 and len(job.codes) < len(job.commands) and not job.stopped:
                    job.start_next(env)
                    continue
                running.remove(job)
                write_attempt(job, device, parallel, running=False)
                state = "done" if code == 0 and len(job.codes) == len(job.commands) else f"exit {code}"
                print(f"{job.name}: {state} after {time.monotonic() - job.started:.0f} s", flush=True)
                bar.update(1)
            time.sleep(0.5)
