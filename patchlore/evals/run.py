"""Running the agent over a dataset: one repair per instance, predictions in SWE-bench's format.

The agent sees what SWE-bench allows: the problem statement and the repo at its base commit.
results.jsonl (append-only, fsync'd per instance) is what a resumed run reads: finished
instances are skipped, infrastructure errors retried. predictions.jsonl is rewritten
atomically from it after every instance, so a kill -9 at any moment loses nothing and
duplicates nothing.
"""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

from patchlore.repair.loop import RepairOptions
from patchlore.repair.session import run_repair
from patchlore.config import Settings
from patchlore.errors import PatchloreError
from patchlore.evals.batch import Batch, scratch
from patchlore.evals.dataset import Instance
from patchlore.evals.environment import environment
from patchlore.evals.repos import checkout
from patchlore.sandbox.runners import repo_test_cmd

DONE, ERROR = "done", "error"


def read_results(path: Path) -> dict[str, dict]:
    """The last complete record per instance; a torn last line (a kill) is dropped."""
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):  # cut the torn tail so the next append starts on a clean line
        with path.open("r+b") as fh:
            fh.truncate(end)
    for line in data[:end].splitlines():
        try:
            rec = json.loads(line)
            out[rec["instance_id"]] = rec
        except (ValueError, KeyError):
            continue
    return out


class Runner:
    def __init__(self, out_dir: Path, model_name: str) -> None:
        self.out_dir = out_dir
        self.model_name = model_name
        self.results_path = out_dir / "results.jsonl"
        self.lock = threading.Lock()
        out_dir.mkdir(parents=True, exist_ok=True)
        self.results = read_results(self.results_path)

    def todo(self, instances: list[Instance]) -> list[Instance]:
        return [i for i in instances if self.results.get(i.instance_id, {}).get("status") != DONE]

    def record(self, rec: dict) -> None:
        with self.lock:
            with self.results_path.open("ab") as fh:
                fh.write((json.dumps(rec) + "\n").encode())
                fh.flush()
                os.fsync(fh.fileno())
            self.results[rec["instance_id"]] = rec
            self._write_predictions()

    def _write_predictions(self) -> None:
        rows = [{"instance_id": iid, "model_name_or_path": self.model_name,
                 "model_patch": rec.get("model_patch", "")}
                for iid, rec in sorted(self.results.items()) if rec["status"] == DONE]
        tmp = self.out_dir / "predictions.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        os.replace(tmp, self.out_dir / "predictions.jsonl")


def run_instance(inst: Instance, repos_dir: Path, settings: Settings, base: RepairOptions,
                 out_dir: Path, image_template: str = "", memory=None) -> dict:
    """One instance's repair; `memory`, the batch's open store (None: its own is opened)."""
    start = time.monotonic()
    rec = {"instance_id": inst.instance_id}
    with scratch("eval") as tmp:
        try:
            # the agent reads the files from a checkout; with an image, it runs in the image
            work = checkout(inst, repos_dir, tmp)
            # the repo's own runner (Django's, sympy's) unless a test command was chosen
            opts = replace(base, task=inst.problem_statement, repo_name=inst.repo,
                           test_cmd=repo_test_cmd(settings, work), repro_always=True)
            session = run_repair(work, environment(inst, settings, image_template), opts,
                                 runs_root=out_dir / "instances", run_id=inst.instance_id,
                                 memory=memory)
            result = session.result
            rec.update(status=DONE, outcome=result.status, model_patch=result.patch,
                       rounds=result.rounds, prompt_tokens=result.usage.prompt_tokens,
                       completion_tokens=result.usage.completion_tokens,
                       cost=result.usage.cost, message=result.message,
                       test_seconds=round(result.test_seconds, 2))
        except PatchloreError as exc:  # a dead model server, a missing mirror: retry on resume
            rec.update(status=ERROR, reason=exc.message)
        except Exception as exc:  # a Docker API error, a bug: this instance's, not the run's
            rec.update(status=ERROR, reason=unexpected(exc, out_dir / "instances" /
                                                       inst.instance_id))
    rec["seconds"] = round(time.monotonic() - start, 2)
    return rec


def unexpected(exc: BaseException, where: Path) -> str:
    """One line for an exception we did not foresee; its traceback is kept in `where`."""
    where.mkdir(parents=True, exist_ok=True)
    log = where / "traceback.txt"
    log.write_text("".join(traceback.format_exception(exc)))
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first} (traceback: {log})"


def run_all(instances: list[Instance], repos_dir: Path, settings: Settings,
            opts: RepairOptions, out_dir: Path, workers: int = 1,
            progress=lambda rec: None, executor: str = "threads",
            ray_address: str = "", image_template: str = "", memory=None) -> Runner:
    runner = Runner(out_dir, settings.model)
    todo = runner.todo(instances)
    if executor == "ray":
        _run_on_ray(todo, repos_dir, settings, opts, out_dir, runner, progress, ray_address,
                    image_template)
        return runner

    def one(inst: Instance) -> None:
        rec = run_instance(inst, repos_dir, settings, opts, out_dir, image_template, memory)
        if not batch.stopping.is_set():  # interrupted: its sandbox was removed under it
            runner.record(rec)
            progress(rec)

    batch = Batch()
    batch.each(one, todo, workers)  # in dataset order, so online memory learns in that order
    return runner


def _run_on_ray(todo: list[Instance], repos_dir: Path, settings: Settings, opts: RepairOptions,
                out_dir: Path, runner: Runner, progress, address: str,
                image_template: str) -> None:
    """One Ray task per instance; the driver alone writes results. Each task opens its own
    memory store: on a cluster, give a shared chroma server (memory_url), and let repos_dir and
    the output directory be on storage every node sees (a store holds locks and clients: it
    is never pickled)."""
    try:
        import ray
    except ImportError:
        raise PatchloreError("--executor ray needs Ray", hint="pip install 'patchlore[ray]'") \
            from None
    ray.init(address=address or None, ignore_reinit_error=True, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    task = ray.remote(num_cpus=1, max_retries=1)(run_instance)
    pending = {task.remote(inst, repos_dir, settings, opts, out_dir, image_template): inst
               for inst in todo}
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        inst = pending.pop(ref)
        try:
            rec = ray.get(ref)
        except Exception as exc:  # the task itself died (a lost node, a worker crash)
            rec = {"instance_id": inst.instance_id, "status": ERROR, "seconds": 0.0,
                   "reason": unexpected(exc, out_dir / "instances" / inst.instance_id)}
        runner.record(rec)
        progress(rec)
