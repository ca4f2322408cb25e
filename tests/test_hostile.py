"""Hostile candidates in a real Docker sandbox: each is contained, and the host repo is
byte-for-byte unchanged afterwards."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from conftest import tree_digest
from patchlore.sandbox.factory import open_sandbox
from patchlore.sandbox.testrun import run_tests

pytestmark = pytest.mark.usefixtures("docker_ready")


@pytest.fixture
def hostile(calc_repo, settings):
    settings.sandbox = "docker"
    settings.mem_limit = "256m"
    settings.pids_limit = 128
    before = tree_digest(calc_repo)
    with open_sandbox(settings, str(calc_repo)) as sb:
        baseline = run_tests(sb, "python3 -m pytest -q")
        yield sb
        # whatever ran, a reset gives back a working sandbox with the same test outcomes
        sb.reset()
        assert sb.run("echo alive", timeout=30).stdout == "alive\n"
        again = run_tests(sb, "python3 -m pytest -q")
        assert again.counts == baseline.counts
    assert tree_digest(calc_repo) == before


def test_infinite_loop_is_killed_at_the_timeout(hostile):
    res = hostile.run("while :; do :; done", timeout=2)
    assert res.timed_out and res.exit_code is None


# the sandbox's pids cgroup (v1 or v2): limit, processes now, forks refused at the limit
PIDS = ("d=/sys/fs/cgroup/pids; [ -d $d ] || d=/sys/fs/cgroup; "
        "cat $d/pids.max $d/pids.current $d/pids.events")


def pids(box) -> tuple[str, int, int]:
    limit, current, events = box.run(PIDS, timeout=30).stdout.split("\n", 2)
    return limit, int(current), int(events.split()[1])


def test_fork_bomb_is_contained(hostile):
    """The pid limit is what stops it (forks are refused there), and when the command is
    killed no bomb process is left running."""
    limit, idle, refused = pids(hostile)
    res = hostile.run("bomb() { bomb | bomb & }; bomb; sleep 30", timeout=5)
    assert not res.ok
    after = pids(hostile)
    assert limit == after[0] == "128"
    assert after[2] > refused  # the bomb reached the limit and was refused there
    assert after[1] <= idle  # and nothing of it survives the kill


def test_gigabyte_of_output_is_capped(hostile):
    hostile.output_limit = 100_000
    res = hostile.run("head -c 1000000000 /dev/zero | tr '\\0' x; echo done", timeout=120)
    assert res.truncated
    assert len(res.stdout) < 200_000
    assert "output limit exceeded" in res.stderr
    assert "done" not in res.stdout  # killed at the limit: it never got there (the tail is kept)


def test_network_is_off(hostile):
    assert hostile.run("ls /sys/class/net").stdout.split() == ["lo"]
    # TEST-NET-1 is never routed; with no interface but loopback the connect fails at once
    res = hostile.run(
        "python3 -c \"import socket; socket.create_connection(('192.0.2.1', 80), timeout=5)\"",
        timeout=30,
    )
    assert res.exit_code != 0 and "unreachable" in res.stderr.lower()


def test_rm_rf_root_only_hurts_the_sandbox(hostile):
    res = hostile.run("rm -rf --no-preserve-root / 2>/dev/null; ls -A", timeout=120)
    assert res.stdout.strip() == ""  # the repo copy is gone, inside the sandbox only
    assert hostile.run("test -x /bin/sh && echo sh-survives").stdout == "sh-survives\n"


def test_writing_outside_the_repo_stays_inside(hostile, calc_repo):
    name = f"/tmp/patchlore-escape-{uuid.uuid4().hex}"
    res = hostile.run(
        f"echo x > {name}; echo hacked > {calc_repo}/calc.py; echo root >> /etc/passwd; "
        f"cat {name}", timeout=30)
    assert res.stdout == "x\n"
    assert "Permission denied" in res.stderr
    assert not Path(name).exists()


def test_memory_hog_is_stopped(hostile):
    res = hostile.run("python3 -c \"x = bytearray(2 * 1024**3); print('allocated')\"",
                      timeout=60)
    assert res.exit_code not in (0, None) and "allocated" not in res.stdout


def test_no_docker_socket_and_not_root(hostile):
    res = hostile.run("id -u; ls /var/run/docker.sock /run/docker.sock 2>&1; true")
    assert res.stdout.splitlines()[0] == "1000"
    assert "No such file" in res.stdout
    assert hostile.run("su -c true root < /dev/null").exit_code != 0
