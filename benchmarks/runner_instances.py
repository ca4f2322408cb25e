"""Real instances for the test runners (issue 17): Django from its PyPI source releases, sympy
from its git history; then gold and no-op patches graded by `patchlore eval grade`.

Django (its history is over the fetch limit): the sdists of two point releases X.Y.Z and the
next carry tests/ and runtests.py. Each source file (django/**.py) the later release changed is
one candidate fix; its test files are the changed files under tests/ whose path shares a word with
the source file's (django/utils/text.py ~ tests/utils_tests/test_text.py), with the other changed
files of those test apps. The instance's base is the later release with that source file and
those test files as in the earlier one: the gold patch is the fix, the test patch the test change.
sympy (fetched with the search tool, `fetch github:sympy/sympy`): commits whose subject says
fix and that change code under sympy/ and a test file sympy/**/tests/test_*.py and nothing else;
base = the parent.

FAIL_TO_PASS / PASS_TO_PASS are read from the test files (ast), not from a run, so that grading
them measures the runner: FAIL_TO_PASS are the tests the test patch adds or changes, PASS_TO_PASS
the other tests of the files it touches. Then the mined instances are validated by running them,
as SWE-bench validates its rows: each split is graded with the gold patches and with a no-fix
patch (--measure's figures "as mined"), and relabelled by those runs by the rule
benchmarks/validate_instances.py gives every mined set: an instance none of whose new tests fails
without the fix is dropped (it shows no bug); one whose gold patch does not resolve it stays and
counts against the runner (reasons in <data>/validation.json; the rows as mined stay in
<split>-mined.jsonl). The figures as mined are the runner's measure; each unresolved
instance is looked at (a runner's misreading is a bug to fix, not a row to drop). Names are written as SWE-bench's Django rows before 5.0
write them (`test_x (app.tests.T)`, or the docstring's first line; sympy: `test_x`), whatever
Python the environment runs, so grading must match either form. A candidate without a
FAIL_TO_PASS test is dropped. A third of the instances, by a hash of the id fixed before any
tuning, is held out.

Then (--measure) per split: each row's environment (timed, benchmarks/dev_gold.py), `eval grade`
of the gold patches and of a no-op patch (a new empty file: the tests run on the unfixed code),
per runner.

Data lives outside git (--data, default /work/data/runners). Needs the package index (pip
download, environment builds) and DOCKER_HOST.

Run: DOCKER_HOST=... nice .venv/bin/python benchmarks/runner_instances.py --mine django \
       --mine sympy                # mine, label, split, validate (grades both splits once)
     ... --validate [--fresh]      # validate the splits there are (reuses --measure's grades)
     ... --measure both            # grade the (validated) splits again
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from dev_gold import environment_times  # noqa: E402
from grading import grade, no_fix_predictions  # noqa: E402
from validate_instances import judged, relabel, run_statuses  # noqa: E402

from patchlore.config import Settings  # noqa: E402
from patchlore.evals.dataset import load_dataset  # noqa: E402
from patchlore.sandbox.runners.django import DjangoRunner  # noqa: E402

# first bugfix releases of each series: they fix the most regressions, each with its test
DJANGO_PAIRS = [("2.2", "2.2.1"), ("3.0", "3.0.1"), ("3.1", "3.1.1"), ("3.2", "3.2.1"),
                ("4.0", "4.0.1"), ("4.1", "4.1.1"), ("4.2", "4.2.1"), ("5.0", "5.0.1")]
PER_PAIR = 1  # the one whose tests are smallest (grading runs them twice)
SYMPY_YEARS = range(2018, 2025)
PER_YEAR = 1
# the environment runs Django's own sqlite settings: a fix to another database's code, or a test
# of one, cannot fail or pass there (its tests are skipped)
OTHER_DATABASES = {"postgres", "postgresql", "oracle", "mysql", "gis"}
MAX_TEST_FILES = 4
MAX_CODE_LINES = 60
MAX_TEST_LINES = 1200  # sympy's biggest test files take many minutes under bin/test
def _stem(word: str) -> str:
    return word[:-3] + "y" if word.endswith("ies") else word.rstrip("s") or word


GENERIC = {"django", "contrib", "core", "db", "tests", "test", "base", "init", "models", "utils",
           "backends", "views", "fields", "sql", "py", "lookups", "functions", "options"}
GENERIC = {_stem(w) for w in GENERIC}  # as words() stems them


def held_out(iid: str) -> bool:
    """Fixed before tuning: a third of the instances, by a hash of the id."""
    return int(hashlib.sha256(iid.encode()).hexdigest(), 16) % 3 == 0


def git(repo: Path, *args: str, env: dict | None = None, check: bool = True) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          env=env)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:3])}: {done.stderr.strip()[-300:]}")
    return done.stdout


# ---- Django, from source releases


def sdist(version: str, cache: Path) -> Path:
    """The unpacked sdist of django==version (pip download, once)."""
    out = cache / f"django-{version}"
    if out.is_dir():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                    "-q", "-d", str(cache), f"django=={version}"], check=True)
    archive = next(p for p in cache.glob("*.tar.gz")
                   if p.name.lower() == f"django-{version}.tar.gz")
    with tarfile.open(archive) as tar, tempfile.TemporaryDirectory(dir=cache) as tmp:
        tar.extractall(tmp, filter="data")
        (top,) = Path(tmp).iterdir()
        for junk in (*top.glob("*.egg-info"), top / "PKG-INFO"):
            shutil.rmtree(junk) if junk.is_dir() else junk.unlink(missing_ok=True)
        top.rename(out)
    return out


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def words(path: str) -> set[str]:
    """The words of a path that may name what it is about (queries -> query, test_text -> text)."""
    out = {_stem(part.lower()) for part in re.split(r"[/_.]+", path)}
    return {w for w in out if w and w not in GENERIC and not w.isdigit()}


def django_candidates(old: dict[str, bytes], new: dict[str, bytes]) -> list[tuple[str, list[str]]]:
    """(source file, its test files) for each source file the new release changed."""
    changed = sorted(f for f in new if f in old and old[f] != new[f])
    tests = [f for f in changed if f.startswith("tests/")
             and not OTHER_DATABASES & set(re.split(r"[/_.]", f))]
    out = []
    for src in changed:
        if not (src.startswith("django/") and src.endswith(".py")) or src == "django/__init__.py" \
                or OTHER_DATABASES & set(re.split(r"[/_.]", src)):
            continue
        linked = [t for t in tests if t.endswith(".py") and words(src) & words(t)]
        apps = {t.split("/")[1] for t in linked}
        linked = [t for t in tests if t.split("/")[1] in apps]  # with its models, admin, ...
        if linked and len(linked) <= MAX_TEST_FILES:
            out.append((src, linked))
    return sorted(out, key=lambda c: sum(len(new[t]) for t in c[1]))


def django_rows(data: Path) -> list[dict]:
    repo = data / "work" / "django__django"
    if not (repo / ".git").is_dir():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q")
    link = data / "repos" / "django__django"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(repo)
    rows = []
    for a, b in DJANGO_PAIRS:
        old, new = files_of(sdist(a, data / "sdists")), files_of(sdist(b, data / "sdists"))
        day = released(data / "sdists" / f"django-{b}")
        for src, tests in django_candidates(old, new)[:PER_PAIR]:
            iid = f"django__django-{b}-" + re.sub(r"[^\w]+", "_", src[len("django/"):-3])
            reverted = {**new, src: old[src], **{t: old[t] for t in tests}}
            base = commit_tree(repo, iid, reverted, day)
            gold = diff_against(repo, base, {src: new[src]})
            test_patch = diff_against(repo, base, {t: new[t] for t in tests})
            rows.append({"_tests": {t: (old[t].decode(), new[t].decode()) for t in tests},
                         "instance_id": iid, "repo": "django/django", "base_commit": base,
                         "patch": gold, "test_patch": test_patch, "created_at": day,
                         "version": ".".join(b.split(".")[:2]),
                         "problem_statement": f"Django {b} fixed {src} (reverted here)."})
    return rows


def released(tree: Path) -> str:
    """The day a release was made: its newest file's date (sdists keep the files' mtimes)."""
    newest = max(p.stat().st_mtime for p in tree.rglob("*.py"))
    return time.strftime("%Y-%m-%d", time.gmtime(newest))


def commit_tree(repo: Path, tag: str, files: dict[str, bytes], day: str) -> str:
    """A commit (tagged, so a clone has it) holding exactly `files`, dated `day`."""
    known = git(repo, "rev-parse", "-q", "--verify", f"refs/tags/{tag}^{{commit}}", check=False)
    if known.strip():
        return known.strip()
    git(repo, "checkout", "-q", "--orphan", f"b-{tag}")
    git(repo, "rm", "-rfq", "--cached", ".", check=False)
    for p in repo.iterdir():
        if p.name != ".git":
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    git(repo, "add", "-A", "-f")
    stamp = f"{day}T12:00:00+00:00"
    env = {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_NAME": "bench",
           "GIT_AUTHOR_EMAIL": "bench@localhost", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@localhost", "PATH": "/usr/bin:/bin"}
    git(repo, "commit", "-q", "-m", tag, env=env)
    git(repo, "tag", tag)
    return git(repo, "rev-parse", "HEAD").strip()


def diff_against(repo: Path, base: str, files: dict[str, bytes]) -> str:
    git(repo, "checkout", "-q", "-f", base)
    for name, content in files.items():
        (repo / name).write_bytes(content)
    out = git(repo, "diff", "--no-color", "--", *files)
    git(repo, "checkout", "-q", "-f", base)
    return out


# ---- sympy, from its history


def sympy_rows(data: Path, mirror: Path, per_year: int = PER_YEAR) -> list[dict]:
    link = data / "repos" / "sympy__sympy"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(mirror)
    rows = []
    for year in SYMPY_YEARS:
        found = 0
        log = git(mirror, "log", "--no-merges", "--format=%H %cs %s", f"--since={year}-01-01",
                  f"--until={year}-12-31", "-i", "--grep=fix", "HEAD")
        for line in log.splitlines()[::-1]:  # oldest first: the same picks every time
            sha, day, subject = line.split(" ", 2)
            row = sympy_row(mirror, sha, day, subject)
            if row:
                rows.append(row)
                found += 1
                if found == per_year:
                    break
    return rows


def sympy_row(mirror: Path, sha: str, day: str, subject: str) -> dict | None:
    names = git(mirror, "show", "--format=", "--name-status", sha).splitlines()
    if not names or any(not ln.startswith("M\t") for ln in names):
        return None  # added, deleted or renamed files: keep to plain edits
    files = [ln[2:] for ln in names]
    tests = [f for f in files if re.match(r"sympy/(.+/)?tests/test_\w+\.py$", f)]
    code = [f for f in files if f.startswith("sympy/") and f.endswith(".py") and f not in tests]
    if not tests or not code or len(tests) + len(code) != len(files) or len(tests) > 2:
        return None
    stat = git(mirror, "show", "--format=", "--numstat", sha, "--", *code)
    if sum(int(a) + int(d) for a, d, _ in (ln.split("\t") for ln in stat.splitlines())) \
            > MAX_CODE_LINES:
        return None
    if any(len(git(mirror, "show", f"{sha}^:{t}").splitlines()) > MAX_TEST_LINES for t in tests):
        return None
    return {"_tests": {t: (git(mirror, "show", f"{sha}^:{t}"), git(mirror, "show", f"{sha}:{t}"))
                       for t in tests},
            "instance_id": f"sympy__sympy-{sha[:10]}", "repo": "sympy/sympy",
            "base_commit": git(mirror, "rev-parse", f"{sha}^").strip(),
            "patch": git(mirror, "diff", "--no-color", f"{sha}^", sha, "--", *code),
            "test_patch": git(mirror, "diff", "--no-color", f"{sha}^", sha, "--", *tests),
            "created_at": day, "version": "", "problem_statement": subject}


# ---- the row's test names, read from the test files as SWE-bench's rows name them


def test_names(path: str, source: str) -> dict[str, str]:
    """{a test's name in a row: its code}. Django's (a TestCase method; `tests/foo/tests.py`
    is the label `foo.tests`): `test_x (foo.tests.Class)`, or its docstring's first line, which
    unittest prints instead and swebench's parser reads; sympy's (a module-level function):
    `test_x`."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    tests = lambda body: [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                          and n.name.startswith("test")]
    if not path.startswith("tests/"):
        return {fn.name: ast.dump(fn) for fn in tests(tree.body)}
    module = DjangoRunner().directives([path])[0]
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    bases = {name: [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "")
                    for b in cls.bases] for name, cls in classes.items()}

    def lineage(name: str, seen: frozenset = frozenset()) -> list[str]:
        """The class and its bases, in order (only this module's have bases here)."""
        return [name, *(a for b in bases.get(name, []) if b not in seen | {name}
                        for a in lineage(b, seen | {name}))]

    out = {}
    for cls in classes:
        # unittest runs the TestCase classes, with the tests they inherit (a mixin's run under
        # each class that mixes it in, named after that class)
        if not any(b.endswith("TestCase") for b in lineage(cls)):
            continue
        seen = set()
        for fn in (f for c in lineage(cls) if c in classes for f in tests(classes[c].body)):
            if fn.name in seen:
                continue  # overridden by a class before it
            seen.add(fn.name)
            doc = ast.get_docstring(fn, clean=False)
            name = doc.strip().split("\n")[0].strip() if doc and doc.strip() else \
                f"{fn.name} ({module}.{cls})"
            out[name] = ast.dump(fn)
    return out


def label(row: dict) -> dict | None:
    """FAIL_TO_PASS: the tests the test patch adds or changes; PASS_TO_PASS: the others in
    the files it touches."""
    f2p, p2p = [], []
    for path, (old, new) in row.pop("_tests").items():
        if not re.search(r"(^|/)tests?[^/]*\.py$", path.rsplit("/", 1)[-1]):
            continue  # models.py, admin.py, urls.py: no tests of their own
        before, after = test_names(path, old), test_names(path, new)
        f2p += [t for t, code in after.items() if before.get(t) != code]
        p2p += [t for t, code in after.items() if before.get(t) == code]
    if not f2p:
        print(f"dropped {row['instance_id']}: its test patch adds or changes no test",
              file=sys.stderr)
        return None
    return {**row, "FAIL_TO_PASS": sorted(set(f2p)), "PASS_TO_PASS": sorted(set(p2p) - set(f2p))}


def mine(data: Path, mirror: Path, kind: str, per_year: int = PER_YEAR) -> None:
    """Label the candidates of `kind` into <data>/labelled-<kind>.jsonl."""
    candidates = django_rows(data) if kind == "django" else sympy_rows(data, mirror, per_year)
    print(f"{len(candidates)} {kind} candidates", file=sys.stderr)
    with open(data / f"labelled-{kind}.jsonl", "w") as fh:
        for row in candidates:
            labelled = label(row)
            if labelled:
                fh.write(json.dumps(labelled) + "\n")
                fh.flush()


def write_splits(data: Path) -> None:
    kept = [json.loads(ln) for f in sorted(data.glob("labelled-*.jsonl"))
            for ln in f.read_text().splitlines() if ln.strip()]
    for split in ("tune", "heldout"):
        with open(data / f"{split}.jsonl", "w") as fh:
            for row in kept:
                if held_out(row["instance_id"]) == (split == "heldout"):
                    fh.write(json.dumps(row) + "\n")


# ---- measuring


def graded(dataset: Path, repos: Path, out: Path, predictions: str, timeout: float) -> dict:
    """The grade's report with each instance's own report beside it (under "grades")."""
    report = grade(dataset, repos, out, predictions, timeout)
    report["grades"] = {p.parent.name: json.loads(p.read_text())
                        for p in (out / "logs").glob("*/report.json")}
    return report


def measure(data: Path, split: str, out: Path, timeout: float, fresh: bool) -> dict:
    dataset, repos = data / f"{split}.jsonl", data / "repos"
    instances, _ = load_dataset(dataset)
    envs = {i.instance_id: environment_times(i, repos, Settings(timeout=timeout), fresh)
            for i in instances}
    noop = no_fix_predictions([i.instance_id for i in instances], out / f"{split}-noop.jsonl")
    gold = graded(dataset, repos, out / split / "gold", "gold", timeout)
    empty = graded(dataset, repos, out / split / "noop", str(noop), timeout)
    summary: dict = {"split": split, "instances": len(instances)}
    for kind in ("django", "sympy"):
        ids = [i.instance_id for i in instances if i.repo.endswith("/" + kind)]
        built = [envs[i]["build_s"] for i in ids if "build_s" in envs[i]]
        summary[kind] = {
            "instances": len(ids),
            "gold_resolved": sum(i in gold["resolved_ids"] for i in ids),
            "noop_resolved": sum(i in empty["resolved_ids"] for i in ids),
            "runner": sorted({gold["grades"].get(i, {}).get("runner", "") for i in ids}),
            "gold_not_resolved": {i: gold["grades"].get(i, {}).get("reason", "")[:300]
                                  for i in ids if i not in gold["resolved_ids"]},
            "env_errors": {i: envs[i]["error"] for i in ids if "error" in envs[i]},
            "pythons": sorted({envs[i].get("python", "") for i in ids}),
            "env_s_per_row": {i: envs[i].get("build_s") for i in ids},
            "env_s_median": statistics.median(built) if built else None,
            "env_s_max": max(built, default=None),
        }
    (out / f"{split}.json").write_text(json.dumps(summary, indent=2))
    return summary


def mined(data: Path, split: str) -> Path:
    """The split as mined: kept aside the first time it is validated."""
    path = data / f"{split}-mined.jsonl"
    if not path.is_file():
        shutil.copyfile(data / f"{split}.jsonl", path)
    return path


def graded_before(out: Path, split: str, ids: set[str]) -> bool:
    """Whether --measure graded exactly these instances, gold and no-fix."""
    reports = [out / split / kind / "report.json" for kind in ("gold", "noop")]
    if not all(p.is_file() for p in reports):
        return False
    gold = json.loads(reports[0].read_text())
    return set(gold["resolved_ids"]) | set(gold["unresolved_ids"]) | set(gold["error_ids"]) == ids


def why_unresolved(out: Path, split: str, iid: str) -> str:
    path = out / split / "gold" / "logs" / iid / "report.json"
    if not path.is_file():
        return "error"
    r = json.loads(path.read_text())
    named = [*r.get("failed_f2p", []), *r.get("failed_p2p", [])]
    return r.get("reason", "") + (f" ({', '.join(named[:4])}{', ...' if named[4:] else ''})"
                                  if named else "")


def validate(data: Path, out: Path, timeout: float, fresh: bool) -> dict:
    """Relabel the instances by their gold and no-fix runs, by the one rule of
    validate_instances.py (env_generalize.py's too): an instance none of whose new tests fails
    without the fix is dropped, since it shows no bug; one whose gold patch does not resolve it
    stays and counts against the runner and the environment. <split>.jsonl becomes the kept
    rows; validation.json holds the figures on them and what was dropped or relabelled."""
    report = {}
    for split in ("tune", "heldout"):
        rows = [json.loads(ln) for ln in mined(data, split).read_text().splitlines() if ln]
        ids = [r["instance_id"] for r in rows]
        if not ids:
            continue
        if fresh or not graded_before(out, split, set(ids)):
            shutil.copyfile(mined(data, split), data / f"{split}.jsonl")
            measure(data, split, out, timeout, fresh)
        before, after = (run_statuses(out / split / kind, ids) for kind in ("noop", "gold"))
        kept, dropped, relabelled = relabel(rows, before, after)
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
        won = set(judged(kept, after))
        report[split] = {"mined": len(rows), "kept": len(kept), "gold_resolved": len(won),
                         "nofix_resolved": len(judged(kept, before)),
                         "gold_unresolved": {r["instance_id"]: why_unresolved(
                             out, split, r["instance_id"]) for r in kept
                             if r["instance_id"] not in won},
                         "dropped": dropped, "relabelled": relabelled}
        print(f"{split}: validation dropped {len(dropped)} of {len(rows)} instances; gold "
              f"resolves {len(won)} of {len(kept)}", file=sys.stderr)
    (data / "validation.json").write_text(json.dumps(report, indent=2))
    return report


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("/work/data/runners"))
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror/sympy+sympy/repo"))
    ap.add_argument("--out", type=Path, default=Path("/work/data/runners/results"))
    ap.add_argument("--mine", choices=("django", "sympy"), action="append", default=[],
                    help="(re)build and label this project's instances (repeatable)")
    ap.add_argument("--validate", action="store_true",
                    help="validate the splits by running them (after --mine: always, unless "
                         "--no-validate)")
    ap.add_argument("--no-validate", action="store_true")
    ap.add_argument("--measure", choices=("tune", "heldout", "both"))
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--per-year", type=int, default=PER_YEAR, help="sympy commits per year")
    ap.add_argument("--fresh", action="store_true",
                    help="remove each row's environment image first: time real builds")
    args = ap.parse_args()
    for kind in args.mine:
        mine(args.data, args.mirror, kind, args.per_year)
    if args.mine:
        write_splits(args.data)
        for split in ("tune", "heldout"):
            (args.data / f"{split}-mined.jsonl").unlink(missing_ok=True)  # mined anew
    if (args.mine and not args.no_validate) or args.validate:
        print(json.dumps(validate(args.data, args.out, args.timeout, args.fresh), indent=2))
    for split in (("tune", "heldout") if args.measure == "both" else
                  (args.measure,) if args.measure else ()):
        print(json.dumps(measure(args.data, split, args.out, args.timeout, args.fresh), indent=2))


if __name__ == "__main__":
    main()
