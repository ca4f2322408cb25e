"""The Sandbox protocol, checked on both backends: real containers and real subprocesses."""

from __future__ import annotations

import random

import pytest

from conftest import FIX, tree_digest
from patchlore.sandbox.base import CommandResult, Sandbox
from patchlore.sandbox.factory import open_sandbox
from patchlore.sandbox.testrun import run_tests

# `ps` for images without procps: every process's command line
PS = ("python3 -c \"import os\nfor p in filter(str.isdigit, os.listdir('/proc')):\n"
      " try: print(open('/proc/'+p+'/cmdline').read().replace(chr(0), ' '))\n"
      " except OSError: pass\"")


@pytest.fixture(params=["docker", "local"])
def box(request, calc_repo, settings):
    if request.param == "docker":
        request.getfixturevalue("docker_ready")
    settings.sandbox = request.param
    with open_sandbox(settings, str(calc_repo)) as sb:
        yield sb


def test_is_a_sandbox(box, request):
    """The backend asked for, with the protocol's behaviour, not only its method names."""
    assert isinstance(box, Sandbox) and box.backend == request.node.callspec.params["box"]
    here = box.run("pwd")
    assert isinstance(here, CommandResult) and here.ok and here.stdout.strip() == box.repo_path
    box.write_file("new.txt", b"new\n")
    assert box.read_file("new.txt") == b"new\n"
    assert box.run("cat new.txt").stdout == "new\n"
    assert "+++ b/new.txt" in box.diff()
    box.reset()
    assert box.read_file("new.txt") is None and box.diff() == ""


def test_snapshot_has_working_tree_without_ignored_files(box, calc_repo):
    listing = box.run("ls -A").stdout.split()
    assert sorted(listing) == [".gitignore", "calc.py", "test_calc.py"]
    assert box.read_file("calc.py") == (calc_repo / "calc.py").read_bytes()
    assert box.read_file("debug.log") is None


def test_uncommitted_changes_are_included(tmp_path, settings, calc_repo, request):
    (calc_repo / "calc.py").write_text("def add(a, b):\n    return a + b\n\ndef mul(a, b):\n"
                                       "    return a * b\n")
    (calc_repo / "new_module.py").write_text("X = 1\n")
    (calc_repo / "test_calc.py").unlink()
    for backend in ("local", "docker"):
        if backend == "docker":
            request.getfixturevalue("docker_ready")
        settings.sandbox = backend
        with open_sandbox(settings, str(calc_repo)) as sb:
            assert b"a + b" in sb.read_file("calc.py")
            assert sb.read_file("new_module.py") == b"X = 1\n"
            assert sb.read_file("test_calc.py") is None


def test_run_reports_exit_code_output_and_duration(box):
    res = box.run("echo out; echo err >&2; exit 3")
    assert (res.exit_code, res.stdout, res.stderr) == (3, "out\n", "err\n")
    assert not res.timed_out and not res.truncated and res.duration > 0


def test_timeout_kills_the_whole_process_tree(box):
    tag = random.randint(1000, 9999)  # the local backend shares the host's process table
    # a run that waited for the sleeps (hours) would hang: pytest's timeout fails it
    res = box.run(f"(sleep {tag}1 &) ; setsid sleep {tag}2 & sleep {tag}3", timeout=1)
    assert res.timed_out and res.exit_code is None
    left = box.run(PS, timeout=10)
    assert left.exit_code == 0 and "python3" in left.stdout
    assert f"sleep {tag}" not in left.stdout


def test_background_child_does_not_hold_the_command_open(box):
    tag = random.randint(1000, 9999)
    res = box.run(f"sleep {tag} & echo started", timeout=30)
    assert res.exit_code == 0 and res.stdout == "started\n"  # held open, it would time out
    assert f"sleep {tag}" not in box.run(PS).stdout


def test_output_is_capped_with_a_note(box):
    box.output_limit = 10_000
    res = box.run("python3 -c \"print('x' * 200000); print('END')\"")
    assert res.truncated and res.exit_code == 0
    assert len(res.stdout) < 12_000
    assert "patchlore cut" in res.stdout and res.stdout.rstrip().endswith("END")


def test_apply_diff_and_reset(box, calc_repo):
    before = run_tests(box, "python3 -m pytest -q")
    assert before.kind == "junit"
    assert before.ids("failed") == ["test_calc.py::test_add"]
    assert before.ids("passed") == ["test_calc.py::test_mul"]
    applied = box.apply_patch(FIX)
    assert applied.applied and applied.method == "git apply", applied.reason
    assert "+    return a + b" in box.diff()
    assert run_tests(box, "python3 -m pytest -q").passed
    box.run("echo junk > stray.txt && mkdir -p build && echo x > build/out.o")
    box.reset()
    assert box.diff() == ""
    assert box.run("ls -A").stdout.split() == [".gitignore", "calc.py", "test_calc.py"]
    assert not run_tests(box, "python3 -m pytest -q").passed


def test_diff_shows_new_and_deleted_files(box):
    box.run("echo 'Y = 2' > added.py && rm test_calc.py")
    diff = box.diff()
    assert "+++ b/added.py" in diff and "+Y = 2" in diff
    assert "--- a/test_calc.py" in diff and "+++ /dev/null" in diff


def test_apply_falls_back_to_fuzz(box):
    # a hunk with wrong line numbers and one stale context line: git refuses, patch --fuzz fits
    fuzzy = FIX.replace("@@ -1,5 +1,5 @@", "@@ -7,5 +7,5 @@").replace(" def mul(a, b):",
                                                                      " def mul(x, y):")
    res = box.apply_patch(fuzzy)
    assert res.applied, res.reason
    assert res.method == "patch --fuzz=5"
    assert [m for m, _ in res.attempts] == ["git apply", "git apply --3way", "git apply --reject"]
    assert box.read_file("calc.py").count(b"a + b") == 1
    assert ".orig" not in box.run("ls -A").stdout


def test_patch_that_does_not_apply_leaves_tree_untouched(box):
    bad = FIX.replace("-    return a - b", "-    return a // b")
    two_file = bad + FIX.replace("calc.py", "test_calc.py").replace("def add", "zzz")
    res = box.apply_patch(two_file)
    assert not res.applied and res.method is None
    assert len(res.attempts) == 4
    assert "calc.py" in res.reason
    assert box.diff() == ""
    assert box.run("ls -A").stdout.split() == [".gitignore", "calc.py", "test_calc.py"]


def test_empty_patch_is_refused(box):
    res = box.apply_patch("  \n")
    assert not res.applied and "empty" in res.reason


def test_write_and_read_files(box):
    box.write_file(f"{box.scratch_path}/note.txt", b"hello")
    assert box.read_file(f"{box.scratch_path}/note.txt") == b"hello"
    assert box.run(f"cat {box.scratch_path}/note.txt").stdout == "hello"


def test_write_file_makes_missing_directories(box):
    """Both backends make missing parents, owned by the user who runs the commands."""
    box.write_file("pkg/sub dir/new.py", b"X = 1\n")
    assert box.read_file("pkg/sub dir/new.py") == b"X = 1\n"
    assert box.run("touch 'pkg/sub dir/more.py' && echo ok").stdout == "ok\n"


def test_host_repo_is_never_changed(calc_repo, settings, request):
    before = tree_digest(calc_repo)
    for backend in ("local", "docker"):
        if backend == "docker":
            request.getfixturevalue("docker_ready")
        settings.sandbox = backend
        with open_sandbox(settings, str(calc_repo)) as sb:
            sb.apply_patch(FIX)
            sb.run("rm -rf ./* .gitignore; echo x > calc.py; git init -q . 2>/dev/null; true")
            sb.reset()
    assert tree_digest(calc_repo) == before


def test_apply_with_reset_starts_from_the_snapshot(box):
    box.run("echo 'junk' >> calc.py && echo stray > stray.py")
    res = box.apply_patch(FIX, reset=True)
    assert res.applied, res.reason
    diff = box.diff()
    assert "+    return a + b" in diff and "junk" not in diff and "stray" not in diff


def test_large_patch_goes_through_a_file(box):
    body = "".join(f"+line {i} {'x' * 60}\n" for i in range(3000))  # ~200 KB
    patch = f"--- /dev/null\n+++ b/big.txt\n@@ -0,0 +1,3000 @@\n{body}"
    res = box.apply_patch(patch)
    assert res.applied, res.reason
    assert box.read_file("big.txt").count(b"\n") == 3000
