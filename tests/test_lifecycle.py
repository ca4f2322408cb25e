"""Containers never outlive their run: normal exit, errors, Ctrl-C, SIGTERM; prune for kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import IMAGE
from patchlore.sandbox.docker_backend import docker_client, prune
from patchlore.sandbox.factory import open_sandbox

pytestmark = pytest.mark.usefixtures("docker_ready")


def owned_by(pid: int) -> list[str]:
    client = docker_client()
    # sparse: no inspect per container, which fails on one removed in between
    return [c.id for c in client.containers.list(
        all=True, sparse=True, filters={"label": f"patchlore.pid={pid}"})]


def wait_for(predicate, seconds: float = 60, step: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def test_closed_on_normal_exit_and_on_error(calc_repo, settings):
    settings.sandbox = "docker"
    # only this process's containers: other runs may share the engine
    before = set(owned_by(os.getpid()))
    with open_sandbox(settings, str(calc_repo)) as sb:
        assert sb.container.id in set(owned_by(os.getpid())) - before
    with pytest.raises(RuntimeError):
        with open_sandbox(settings, str(calc_repo)):
            raise RuntimeError("boom")
    assert set(owned_by(os.getpid())) == before


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 128 + 15)])
def test_interrupt_removes_the_container(calc_repo, sig, code):
    env = {**os.environ, "PATCHLORE_IMAGE": IMAGE, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "patchlore", "sandbox", "exec", "--repo", str(calc_repo),
         "--sandbox", "docker", "--", "sleep", "120"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: owned_by(proc.pid)), "no container started"
        time.sleep(0.5)  # let the command start inside it
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert owned_by(proc.pid) == []


def test_an_interrupt_while_the_container_starts_removes_it(calc_repo):
    """A signal as soon as the container exists, while the engine starts it and the snapshot
    goes in: it is tracked before the engine makes it, so it is removed. (It was tracked once
    `run` returned: a probe of 20 signal timings left one container behind.)"""
    env = {**os.environ, "PATCHLORE_IMAGE": IMAGE, "NO_COLOR": "1"}
    for sig in (signal.SIGTERM, signal.SIGINT) * 3:
        proc = subprocess.Popen(
            [sys.executable, "-m", "patchlore", "sandbox", "exec", "--repo", str(calc_repo),
             "--sandbox", "docker", "--", "sleep", "120"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert wait_for(lambda: owned_by(proc.pid) or proc.poll() is not None, 60, 0.005)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 128 + sig, err
        assert "Traceback" not in err
        assert owned_by(proc.pid) == [], sig


def test_sigterm_in_library_use_removes_the_container(calc_repo):
    """A script that opens a sandbox without the CLI: the same handler as the CLI's turns
    SIGTERM into an exit 143 whose cleanups remove the container."""
    code = ("import sys\nfrom patchlore.config import Settings\n"
            "from patchlore.sandbox.factory import open_sandbox\n"
            f"with open_sandbox(Settings(image={IMAGE!r}, sandbox='docker'), {str(calc_repo)!r}):\n"
            "    print('up', flush=True)\n    sys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "up\n"
        assert len(owned_by(proc.pid)) == 1
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert owned_by(proc.pid) == []


def test_prune_removes_containers_of_killed_runs(calc_repo):
    code = ("import sys, os\nfrom patchlore.config import Settings\n"
            "from patchlore.sandbox.factory import open_sandbox\n"
            f"sb = open_sandbox(Settings(image={IMAGE!r}, sandbox='docker'), {str(calc_repo)!r})\n"
            "print('up', flush=True)\nsys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "up\n"
        assert len(owned_by(proc.pid)) == 1
        live = prune()  # a live run's container is left alone
        assert owned_by(proc.pid) and not set(live) & set(owned_by(proc.pid))
        proc.send_signal(signal.SIGKILL)  # no cleanup can run
        proc.wait(timeout=30)
        assert len(owned_by(proc.pid)) == 1
        removed = prune()
        assert len(removed) >= 1 and owned_by(proc.pid) == []
    finally:
        proc.kill()



@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_the_engine_makes_the_container_removes_it(calc_repo, sig):
    """The engine makes the container while its answer is on the way: interrupted then, the
    client never learns of it and a removal by name comes too early. Here the create call is
    held back 3 s (tests/slow_engine.py) and the signal comes while it is held, every time."""
    from slow_engine import SlowEngine

    slow = SlowEngine(hold=rb"^POST /(v[\d.]+/)?containers/create", delay=3)
    with slow as host:
        env = {**os.environ, "PATCHLORE_IMAGE": IMAGE, "NO_COLOR": "1", "DOCKER_HOST": host}
        proc = subprocess.Popen(
            [sys.executable, "-m", "patchlore", "sandbox", "exec", "--repo", str(calc_repo),
             "--sandbox", "docker", "--", "sleep", "600"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert slow.holding.wait(120), "the create call never came"
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=120)
            assert slow.answered.wait(60)  # the engine made the container and said so
        finally:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert owned_by(proc.pid) == []
