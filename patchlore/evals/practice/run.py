"""`patchlore practice`: mutants of the repo's own functions that its tests catch, turned into
verified memory episodes and SWE-bench-format instances of the repo.

Everything happens in sandboxes and in patchlore's own directory (.patchlore/practice/): the
working tree is only read (a snapshot). The instances' repository is a git repository there
(`repo`), one branch per kept mutant (practice/ID), whose commit holds the bug: `eval run` and `eval
grade` take the instances as any dataset, the repo named by that path.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from patchlore.config import Settings
from patchlore.errors import PatchloreError
from patchlore.evals.practice.coverage import covered_lines, is_covered, traced_calls
from patchlore.evals.practice.mutants import Function, Mutant, functions, mutants, still_parses
from patchlore.memory.schema import PRACTICE, VERIFIED, Episode
from patchlore.memory.signature import signature_of
from patchlore.repair.session import records_dir
from patchlore.sandbox.factory import open_sandbox
from patchlore.sandbox.snapshot import copy_snapshot, find_repo_root, take_snapshot
from patchlore.sandbox.testrun import run_tests
from patchlore.sandbox.verify import PASSING, TEST_FILE, Status, VerifyOptions, steady, verify

SOURCE = PRACTICE


@dataclass
class PracticeOptions:
    test_cmd: str
    max_mutants: int = 20
    budget: float | None = None  # seconds for the whole run
    mutant_timeout: float | None = None  # default: 3x the baseline run, at least 10 s
    seed: int = 0


@dataclass
class PracticeReport:
    tried: int = 0
    caught: int = 0
    kept: int = 0
    stored: int = 0
    skipped: int = 0  # functions already practised at this content
    instances: str = ""
    # functions no test protects: {path, function, why} (no passing test runs it, or none of
    # its mutants was caught)
    uncaught: list[dict] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)  # hung or broke the collector
    traced: bool = True  # False: the trace saw no call into the repo, every function was tried
    unsteady: int = 0  # tests set aside: the two runs of the unchanged code differ on them
    untried: int = 0  # mutants chosen that --budget left untried (one cut mid-run among them)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"tried": self.tried, "caught": self.caught, "kept": self.kept,
                "stored": self.stored, "instances": self.instances,
                "uncaught": [{"path": u["path"], "function": u["function"]}
                             for u in self.uncaught]}


def _git(repo: Path, *args: str, env: dict | None = None) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          env=env)
    if done.returncode != 0:
        raise PatchloreError(f"git {args[0]} in {repo} failed: {done.stderr.strip()[:200]}")
    return done.stdout.strip()


class Mirror:
    """The practice repository: a work tree under .patchlore/practice/repo whose commits are
    the repo's tree as practised (branch `base`) and each kept mutant (branch practice/ID).

    Its commits carry the date of the repo's HEAD commit and its base the repo's last version
    tag: an environment build bounds dependencies by that date and pretends that version, so
    a mutant's sandbox (and `eval grade` of its instance) gets the repo's own environment,
    not one of today's releases."""

    def __init__(self, path: Path, source: Path) -> None:
        self.path = path
        if not (path / ".git").is_dir():
            path.mkdir(parents=True, exist_ok=True)
            _git(path, "init", "-q", "-b", "base")
            for k, v in (("user.name", "patchlore practice"),
                         ("user.email", "practice@patchlore.invalid")):
                _git(path, "config", k, v)
        date = _git_or_empty(source, "log", "-1", "--format=%cI", "HEAD")
        self.env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} \
            if date else None
        self.version = _git_or_empty(source, "describe", "--tags", "--abbrev=0")

    def sync(self, snap) -> str:
        """Make `base` the snapshot's tree; its commit."""
        for name in _git(self.path, "ls-files", "-z").split("\0"):
            if name:
                (self.path / name).unlink(missing_ok=True)
        copy_snapshot(snap, self.path)
        _git(self.path, "add", "-A")
        if _git(self.path, "status", "--porcelain"):
            _git(self.path, "commit", "-q", "-m", "practice base", env=self.env)
        if self.version:
            _git(self.path, "tag", "-f", self.version)
        return _git(self.path, "rev-parse", "HEAD")

    def commit_mutant(self, mutant: Mutant, source: bytes, name: str) -> tuple[str, str]:
        """The mutant's commit (on its own branch) and the fix: the diff from it back to base."""
        target = self.path / mutant.path
        target.write_bytes(mutant.apply(source))
        _git(self.path, "commit", "-q", "-am", f"practice: {mutant.operator} in "
             f"{mutant.path}:{mutant.function}", env=self.env)
        sha = _git(self.path, "rev-parse", "HEAD")
        _git(self.path, "branch", "-f", f"practice/{name}", sha)
        fix = _git(self.path, "diff", sha, "HEAD~1") + "\n"
        _git(self.path, "reset", "-q", "--hard", "HEAD~1")
        return sha, fix


def _git_or_empty(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def _choose(cands: list[tuple[Function, list[Mutant]]], n: int, seed: int) -> list[Mutant]:
    """Round robin over functions, a random operator each pass: many functions get one."""
    rng = random.Random(seed)
    per = [rng.sample(ms, len(ms)) for _, ms in cands if ms]
    rng.shuffle(per)
    out = []
    while per and len(out) < n:
        for ms in list(per):
            if len(out) >= n:
                break
            out.append(ms.pop())
            if not ms:
                per.remove(ms)
    return out


def _diff(path: str, old: bytes, new: bytes) -> str:
    import difflib

    lines = difflib.unified_diff(old.decode("utf-8", "surrogateescape").splitlines(True),
                                 new.decode("utf-8", "surrogateescape").splitlines(True),
                                 f"a/{path}", f"b/{path}")
    return f"diff --git a/{path} b/{path}\n" + "".join(lines)


def practice(root: Path, settings: Settings, opts: PracticeOptions, memory=None,
             repo_name: str = "", progress: Callable[[str, PracticeReport], None] = lambda s, r: None,
             blind: Callable | None = None,
             warn: Callable[[str], None] = lambda m: None) -> PracticeReport:
    """`blind(work, mutant, fix, failures)` repairs a kept mutant without its fix (None: no
    model): (its verified patch or "", the model, whether it stored the episode itself)."""
    start = time.monotonic()
    deadline = start + opts.budget if opts.budget else None
    report = PracticeReport()
    # before the snapshot: .patchlore ignores itself (a read-only checkout: the state dir)
    home = records_dir(find_repo_root(root), warn) / "practice"
    snap = take_snapshot(root)
    repo_name = repo_name or snap.root.name
    state_path, inst_path = home / "state.json", home / "instances.jsonl"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    report.instances = str(inst_path)

    sources, cands = _candidates(snap, state, report)
    if not cands:
        report.seconds = time.monotonic() - start
        return report

    mirror = Mirror(home / "repo", snap.root)
    mirror.sync(snap)
    progress("running the suite", report)
    by_fn: dict[str, list[bool]] = {}
    with open_sandbox(settings, str(snap.root), snapshot=snap, name=repo_name) as box:
        baseline = _passing_suite(box, opts, settings)
        progress("tracing which functions the passing tests run", report)
        cands, passing = _covered(box, opts, settings, baseline, cands, report)
        timeout = opts.mutant_timeout or max(10.0, 3 * baseline.command.duration)
        vopts = VerifyOptions(opts.test_cmd, test_timeout=timeout, deadline=deadline)
        chosen = _choose(cands, opts.max_mutants, opts.seed)
        for n, m in enumerate(chosen):
            if deadline and time.monotonic() >= deadline:
                report.untried = len(chosen) - n
                break
            report.tried += 1
            progress(f"{m.path}:{m.function} ({m.operator})", report)
            src = sources[m.path]
            verdict = verify(box, _diff(m.path, src, m.apply(src)), baseline, [], vopts)
            if verdict.status == Status.TIMED_OUT and deadline and \
                    time.monotonic() >= deadline:  # --budget cut it: not tried, not practised
                report.tried -= 1
                report.untried = len(chosen) - n
                break
            by_fn.setdefault(f"{m.path}::{m.function}", []).append(
                verdict.status == Status.BROKE_PASSING)
            if _caught_whole(m, verdict, passing, report) and _keep(
                    m, src, verdict.run, verdict.failed_p2p, passing, mirror, settings, opts,
                    repo_name, memory, blind, report, inst_path):
                report.kept += 1
    _remember(cands, by_fn, state, report)
    home.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(state, indent=1, sort_keys=True))
    report.seconds = time.monotonic() - start
    return report


def _passing_suite(box, opts: PracticeOptions, settings: Settings):
    """The suite's run on the unchanged code; a mutant is caught only by a test that passed."""
    baseline = run_tests(box, opts.test_cmd, timeout=settings.command_timeout)
    if not baseline.per_test or not baseline.ids(*PASSING):
        raise PatchloreError(f"`{opts.test_cmd}` reports no passing tests in the sandbox: "
                             "practice needs a suite that passes",
                             hint="pass --test-cmd with a pytest command that passes")
    return baseline


def _candidates(snap, state: dict, report: PracticeReport) -> tuple[dict, list]:
    """The repo's source files and, per function not practised at its content, its mutants
    that still parse."""
    sources, cands = {}, []
    for name in snap.files:
        if not name.endswith(".py") or TEST_FILE.search(name) or name.startswith(".patchlore/"):
            continue
        data = (snap.root / name).read_bytes()
        for fn, node in functions(name, data):
            if state.get(f"{name}::{fn.name}") == fn.digest:
                report.skipped += 1
                continue
            sources[name] = data
            ms = [m for m in mutants(fn, node, data) if still_parses(m.apply(data))]
            if ms:
                cands.append((fn, ms))
    return sources, cands


def _covered(box, opts: PracticeOptions, settings: Settings, baseline, cands: list,
             report: PracticeReport) -> tuple[list, list[str]]:
    """The candidates whose functions the passing tests run (traced in the sandbox; the
    others are reported as unprotected), and the passing tests: those both runs of the
    unchanged code report passing (the trace is the second; a test named after the time is in
    neither set of any mutant's run, so judging mutants on it would drop them all)."""
    calls, again = traced_calls(box, opts.test_cmd, settings.command_timeout)
    before = len(baseline.tests)
    steady(baseline, again)
    report.unsteady = before - len(baseline.tests)
    passing = baseline.ids(*PASSING)
    if not passing:
        raise PatchloreError(f"`{opts.test_cmd}`: no test passes in two runs alike",
                             hint="practice needs tests whose names and outcomes are stable")
    lines = covered_lines(calls, passing)
    report.traced = bool(lines)
    if not lines:  # the trace saw no call into the repo's files: every function is tried
        return cands, passing
    for fn, _ in cands:
        if not is_covered(lines, fn.path, fn.first_line, fn.last_line):
            report.uncaught.append({"path": fn.path, "function": fn.name,
                                    "why": "no passing test runs it"})
    return ([(fn, ms) for fn, ms in cands
             if is_covered(lines, fn.path, fn.first_line, fn.last_line)], passing)


def _remember(cands: list, by_fn: dict[str, list[bool]], state: dict,
              report: PracticeReport) -> None:
    """Mark each tried function as practised at its content; one no mutant of which the tests
    caught is reported as unprotected."""
    for fn, _ in cands:
        tried = by_fn.get(f"{fn.path}::{fn.name}")
        if tried:
            state[f"{fn.path}::{fn.name}"] = fn.digest
            if not any(tried):
                report.uncaught.append({"path": fn.path, "function": fn.name,
                                        "why": f"{len(tried)} mutant(s), none caught"})


def _caught_whole(m: Mutant, verdict, passing: list[str], report: PracticeReport) -> bool:
    """Whether the tests caught the mutant with the rest of the suite still reporting (a mutant
    that breaks collection or kills the run shows no symptom worth learning from)."""
    if verdict.status == Status.TIMED_OUT:
        report.dropped.append({"path": m.path, "function": m.function, "why": verdict.reason})
        return False
    if verdict.status != Status.BROKE_PASSING:
        return False
    report.caught += 1
    if any(t not in verdict.run.statuses for t in passing):
        report.dropped.append({"path": m.path, "function": m.function,
                               "why": "the suite did not run to the end"})
        return False
    return True


def _keep(m: Mutant, src: bytes, run, failed: list[str], passing: list[str], mirror: Mirror,
          settings: Settings, opts: PracticeOptions, repo_name: str, memory, blind,
          report: PracticeReport, inst_path: Path) -> bool:
    """Verify the inverse diff as a repair of the mutant (same contract as any candidate),
    then write the instance and store the episode."""
    import hashlib

    iid = f"{repo_name}__practice-{hashlib.sha256(m.key.encode()).hexdigest()[:10]}"
    sha, fix = mirror.commit_mutant(m, src, iid)
    failures = {t: run.tests[t].message for t in failed if t in run.tests}
    with tempfile.TemporaryDirectory(prefix="patchlore-practice-") as tmp:
        work = Path(tmp) / "repo"
        _git(Path(tmp), "clone", "-q", str(mirror.path), str(work))
        _git(work, "checkout", "-q", sha)
        msnap = take_snapshot(work)
        # the mutant's run is the inverse's baseline, on the tests already known steady
        mrun = replace(run, tests={t: o for t, o in run.tests.items() if t in set(passing)},
                       steadied=True)
        with open_sandbox(settings, str(work), snapshot=msnap, name=repo_name) as box:
            vopts = VerifyOptions(opts.test_cmd, test_timeout=settings.command_timeout)
            verdict = verify(box, fix, mrun, failed, vopts)
        if not verdict.verified:
            report.dropped.append({"path": m.path, "function": m.function,
                                   "why": f"its inverse does not verify: {verdict.status.value}"})
            return False
        diff, model, stored = verdict.patch, "", False
        if blind is not None:
            own, model, stored = blind(work, m, fix, failures)
            diff = own or diff
    row = {"instance_id": iid, "repo": str(mirror.path), "base_commit": sha,
           "problem_statement": _symptom(failed, failures), "patch": fix, "test_patch": "",
           "FAIL_TO_PASS": failed, "PASS_TO_PASS": [t for t in passing if t not in failed],
           "version": "", "environment_setup_commit": sha, "practice": {
               "path": m.path, "function": m.function, "operator": m.operator, "line": m.line}}
    _upsert(inst_path, row)
    if stored:
        report.stored += 1
    elif memory is not None:
        sig = signature_of(failures)
        memory.put(Episode(repo=repo_name, task=row["problem_statement"], signature=sig,
                           diff=diff, outcome=VERIFIED, files=[m.path], tests_run=len(passing),
                           model=model, source=SOURCE))
        report.stored += 1
    return True


def _symptom(failed: list[str], failures: dict[str, str]) -> str:
    head = "failing tests: " + ", ".join(failed[:5])
    first = next(iter(failures.values()), "")
    return f"{head}\n{first[-1500:]}" if first else head


def _upsert(path: Path, row: dict) -> None:
    rows = []
    if path.is_file():
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("instance_id") != row["instance_id"]] + [row]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


def blind_repair(settings: Settings, memory, repo_name: str, test_cmd: str,
                 runs_root: Path) -> Callable:
    """The `blind` step for `practice`: the repair loop on the mutant, shown only its failing
    tests (memory is recalled, never written by the loop). Its verified patch becomes the
    episode; when it fails, the learn step contrasts its candidates with the known fix, so
    what it got wrong feeds the insights."""
    from patchlore.propose.context import Candidate, RepairOptions
    from patchlore.propose.outcome import Outcome
    from patchlore.repair.learn import learn
    from patchlore.repair.session import run_repair

    def run(work: Path, m: Mutant, fix: str,
            failures: dict[str, str]) -> tuple[str, str, bool]:
        mode = "read" if memory is not None else "off"
        these = replace(settings, memory_mode=mode, test_cmd=test_cmd)
        session = run_repair(work, these, RepairOptions.of(these, repo_name),
                             runs_root=runs_root, memory=memory)
        result = session.result
        if result.verified:
            return result.patch, settings.model, False
        if memory is not None and result.candidates:
            gold = Candidate(round=result.rounds, diff=fix, source=SOURCE,
                             status=Status.VERIFIED, patch=fix)
            taught = replace(result, status=Outcome.VERIFIED, patch=fix,
                             candidates=[*result.candidates, gold])
            ep = learn(memory, _named(settings), taught, repo_name, "", failures,
                       str(session.run_dir), [])
            if ep is not None:  # the same id: this copy, marked as practice, wins
                memory.put(replace(ep, source=SOURCE))
                return "", settings.model, True
        return "", settings.model, False

    return run


def _named(settings: Settings):
    from patchlore.llm.model import make_model

    return make_model(settings.model, settings.api_base, timeout=settings.command_timeout)
