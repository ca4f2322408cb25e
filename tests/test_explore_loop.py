"""`--agent explore` through the repair loop: real `patchlore` commands, a scripted model over
real HTTP, real Docker sandboxes; every candidate goes through the loop's one verify step."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from conftest import make_repo, run_cli, tree_digest
from stub_llm import StubLLM
from test_fix import EXAMPLE, repo  # noqa: F401  (the pricing example, as a fixture)
from test_fix import fix as fix_cli
from patchlore.propose.explore_prompts import SYSTEM as EXPLORE_SYSTEM

pytestmark = pytest.mark.usefixtures("docker_ready")
MODEL = "hosted_vllm/stub-coder"
SED = "sed -i 's|(1 + percent / 100)|(1 - percent / 100)|' cart.py"


def bash(command: str) -> str:
    return f"Next.\n\n```bash\n{command}\n```\n"


def steps(body: dict) -> int:
    return sum(m["role"] == "assistant" for m in body["messages"])


def fix(repo, stub, *args, env=None):
    return fix_cli(repo, stub, "--agent", "explore", "--sandbox", "docker", "--json", *args,
                   env=env)


def test_an_exploration_fixes_the_example_and_is_verified(repo):
    before = tree_digest(repo)
    script = [bash("ls"), bash("grep -n percent cart.py"), bash("nl -ba cart.py | sed -n '8,12p'"),
              bash(SED), bash("python3 -m pytest -q -p no:cacheprovider"), bash("submit")]
    with StubLLM([[s] for s in script]) as stub:
        res = fix(repo, stub, "--samples", "1", "--apply")
        requests = [r for r in stub.requests if not r.get("tools")]
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "verified" and out["applied"]
    [cand] = out["candidates"]
    assert cand["source"] == "explore" and cand["verified"]
    assert "-    return round(amount * (1 + percent / 100), 2)" in out["patch"]
    assert "+    return round(amount * (1 - percent / 100), 2)" in out["patch"]
    assert cand["commands"] == ["grep -n percent cart.py", "nl -ba cart.py | sed -n '8,12p'",
                                SED]
    # the first message holds the failing tests; the prefix never changes between steps
    assert "test_cart.py::test_discount_reduces_price" in requests[0]["messages"][1]["content"]
    for a, b in zip(requests, requests[1:]):
        assert b["messages"][:len(a["messages"])] == a["messages"]
    tests_ran = requests[5]["messages"][-1]["content"]  # the model's own test run
    assert " passed" in tests_ran and "failed" not in tests_ran
    changed = {k for k, v in tree_digest(repo).items() if before.get(k) != v}
    assert {k for k in changed if not k.startswith(".patchlore")} == {"cart.py"}
    shown = run_cli("runs", "show", out["run_id"], "--repo", str(repo), env={"COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "#1 $ grep -n percent cart.py (exit 0" in shown.stdout
    assert "#1 submitted after 5 command(s), text replies" in shown.stdout


def test_three_explorations_in_parallel_are_verified_independently(repo):
    """Each exploration learns its container's hostname first, and the script gives each
    container a different (correct) fix, after a different number of looks: three distinct
    candidates, three verdicts. Replayed, each exploration gets its own recorded replies back,
    whatever order the three ask in."""
    fixes = ["(1 - percent / 100)", "(100 - percent) / 100", "(1 - percent * 0.01)"]
    lanes: dict[str, int] = {}
    lock = threading.Lock()

    def answer(body: dict) -> list[str]:
        msgs = body["messages"]
        if msgs[0]["content"] != EXPLORE_SYSTEM:
            return ["[]"]
        n = steps(body)
        if n == 0:
            return [bash("hostname")]
        host = msgs[3]["content"].split("<output>\n")[1].split("\n")[0]
        with lock:
            lane = lanes.setdefault(host, len(lanes))
        if n <= lane:  # lane k looks k more times first
            return [bash(f"grep -c percent cart.py # look {n}")]
        if n == lane + 1:
            return [bash(f"sed -i 's|(1 + percent / 100)|{fixes[lane]}|' cart.py")]
        return [bash("submit")]

    with StubLLM(answer) as stub:
        res = fix(repo, stub, "--samples", "3")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert len(lanes) == 3  # three containers
    cands = out["candidates"]
    assert len(cands) == 3 and all(c["verified"] for c in cands)
    patches = {c["patch"] for c in cands}
    assert len(patches) == 3 and all(any(f in p for f in fixes) for p in patches)
    events = [json.loads(line) for line in
              (Path(out["run_dir"]) / "trajectory.jsonl").read_text().splitlines()]
    verified_runs = [e for e in events if e["kind"] == "test_run" and e.get("phase") == "candidate"]
    assert len(verified_runs) == 3  # each candidate had its own test run
    assert out["status"] == "verified" and out["patch"] in patches
    res = run_cli("fix", "--repo", str(repo), "--model", f"replay:{out['run_dir']}",
                  "--agent", "explore", "--samples", "3", "--sandbox", "docker", "--json",
                  env={"PATCHLORE_TEST_CMD": "python3 -m pytest -q -p no:cacheprovider",
                       "PATCHLORE_MEMORY_MODE": "off"}, timeout=300)
    assert res.returncode == 0, res.stderr
    again = json.loads(res.stdout)
    assert [c["patch"] for c in again["candidates"]] == [c["patch"] for c in cands]
    assert again["usage"]["calls"] == out["usage"]["calls"] == 3 + 4 + 5


def test_a_wrong_submit_gets_its_verdict_and_the_next_round_resumes(repo):
    breaks = "sed -i 's|price \\* qty|price|' cart.py"
    undo = "sed -i 's|sum(price for|sum(price * qty for|' cart.py"

    def answer(body: dict) -> list[str]:
        msgs = body["messages"]
        if msgs[0]["content"] != EXPLORE_SYSTEM:
            return ["[]"]
        if "not verified yet" not in json.dumps(msgs):  # round 1: a wrong fix
            return [[bash(breaks), bash("submit")][min(steps(body), 1)]]
        return [[bash("grep -c 'sum(price for' cart.py"), bash(undo + " && " + SED),
                 bash("submit")][min(steps(body) - 2, 2)]]

    with StubLLM(answer) as stub:
        res = fix(repo, stub, "--samples", "1", "--rounds", "2")
        last = stub.requests[-1]["messages"]
    out = json.loads(res.stdout)
    assert res.returncode == 0 and out["status"] == "verified", res.stderr
    first, second = out["candidates"]
    assert not first["verified"] and "still failing" in first["reason"]
    assert second["verified"]
    # the feedback went to the same conversation, whose tree still held the first change
    feedback = [m["content"] for m in last if "not verified yet" in (m["content"] or "")]
    assert len(feedback) == 1 and "test_discount_reduces_price" in feedback[0]
    assert "test_subtotal" in feedback[0]  # broken by the first change
    assert last[-3]["content"].startswith("<exit_code>0</exit_code>\n<output>\n1\n")  # grep
    assert "sum(price for" not in out["patch"]
    assert "+    return round(amount * (1 - percent / 100), 2)" in out["patch"]


def test_malformed_replies_end_at_the_step_limit_with_a_clear_result(repo):
    with StubLLM([["no block here"], [bash("ls") + bash("pwd")], ["\x00garbage"]]) as stub:
        res = fix(repo, stub, "--samples", "1", "--rounds", "1", "--max-steps", "3")
    out = json.loads(res.stdout)
    assert res.returncode == 1 and out["status"] == "unverified"
    [cand] = out["candidates"]
    assert cand["status"] == "invalid"
    assert cand["reason"] == "the exploration ended without `submit`: no `submit` within " \
                             "--max-steps 3"


def test_max_calls_stops_the_explorations(repo):
    with StubLLM([[bash("ls")]] * 10) as stub:
        res = fix(repo, stub, "--samples", "2", "--max-calls", "3")
    out = json.loads(res.stdout)
    assert res.returncode == 1
    assert out["status"] == "budget" and out["message"] == "stopped at --max-calls 3"
    assert out["usage"]["calls"] <= 4  # two explorations in flight when the third call lands


def test_memory_is_recalled_into_the_first_message_and_keeps_the_commands(repo, tmp_path):
    script = [bash("grep -n percent cart.py"), bash(SED), bash("submit")]
    env = {"PATCHLORE_MEMORY_MODE": "online", "PATCHLORE_MEMORY_DIR": str(tmp_path / "mem")}

    def answer(body: dict) -> list[str]:
        if body["messages"][0]["content"] != EXPLORE_SYSTEM:
            return ["[]"]  # the learn step's distillation: no lessons
        return [script[min(steps(body), 2)]]

    with StubLLM(answer) as stub:
        first = fix(repo, stub, "--samples", "1", env=env)
    assert json.loads(first.stdout)["status"] == "verified", first.stderr
    listed = run_cli("memory", "list", "--json", env=env)
    [episode] = [e for e in json.loads(listed.stdout) if e.get("outcome") == "verified"]
    shown = json.loads(run_cli("memory", "show", episode["id"], "--json", env=env).stdout)
    assert shown["commands"] == ["grep -n percent cart.py", SED]

    again = make_repo(tmp_path / "again", {p.name: p.read_text() for p in EXAMPLE.iterdir()
                                           if p.is_file()})
    with StubLLM(answer) as stub:
        second = fix(again, stub, "--samples", "1", env=env)
        opening = next(r["messages"][1]["content"] for r in stub.requests
                       if r["messages"][0]["content"] == EXPLORE_SYSTEM)
    assert json.loads(second.stdout)["status"] == "verified"
    assert "Past repair 1" in opening and f"$ {SED}" in opening


def test_bad_agent_is_a_usage_error(repo):
    res = run_cli("fix", "--repo", str(repo), "--agent", "wander")
    assert res.returncode == 2 and "error:" in res.stderr and "is not one of pipeline, explore" in res.stderr
    assert "Traceback" not in res.stderr


def test_check_takes_the_agent_too(repo):
    script = [bash(SED), bash("submit")]
    with StubLLM([[s] for s in script]) as stub:
        res = run_cli("check", "--repo", str(repo), "--model", MODEL, "--api-base",
                      stub.api_base, "--agent", "explore", "--samples", "1", "--format", "json",
                      "--", "python3 -m pytest -q -p no:cacheprovider",
                      env={"PATCHLORE_SANDBOX": "docker", "PATCHLORE_MEMORY_MODE": "off"},
                      cwd=repo, timeout=300)
    assert res.returncode == 1, res.stderr  # the tests fail: a verified suggestion, exit 1
    report = json.loads(res.stdout)
    assert report["repair"] == "verified"
    assert "+    return round(amount * (1 - percent / 100), 2)" in report["patch"]


def test_the_verify_pool_borrows_the_explorations_sandboxes(repo, tmp_path, settings):
    """Three explorations and three verifications at once: two sandboxes beyond the first,
    not four."""
    from patchlore.propose.explore_proposer import ExploreProposer
    from patchlore.repair.loop import RepairOptions, repair
    from patchlore.llm.model import make_model
    from patchlore.trajectory import Trajectory
    from patchlore.sandbox.factory import open_sandbox
    from patchlore.sandbox.snapshot import take_snapshot

    settings.sandbox = "docker"
    snapshot = take_snapshot(repo)
    opened = []

    def more():
        opened.append(open_sandbox(settings, str(repo), snapshot=snapshot))
        return opened[-1]

    script = [bash(SED), bash("submit")]
    with StubLLM(lambda body: [script[min(steps(body), 1)]]) as stub, \
            open_sandbox(settings, str(repo), snapshot=snapshot) as box:
        opts = RepairOptions(test_cmd="python3 -m pytest -q -p no:cacheprovider", samples=3,
                             rounds=1, workers=3, test_timeout=60)
        traj = Trajectory(tmp_path / "runs")
        result = repair(snapshot, box, make_model(MODEL, stub.api_base), opts, traj,
                        more_boxes=more, proposers=[ExploreProposer])
        traj.close()
    assert result.verified and len(result.candidates) == 3
    assert all(c.verified for c in result.candidates)
    assert len(opened) == 2
    assert all(b.container is None for b in opened)  # closed at the end of the rounds


def test_an_exploration_replays_from_its_record(repo):
    with StubLLM([[bash(SED)], [bash("submit")]]) as stub:
        first = json.loads(fix(repo, stub, "--samples", "1").stdout)
    res = run_cli("fix", "--repo", str(repo), "--model", f"replay:{first['run_dir']}",
                  "--agent", "explore", "--samples", "1", "--sandbox", "docker", "--json",
                  env={"PATCHLORE_TEST_CMD": "python3 -m pytest -q -p no:cacheprovider",
                       "PATCHLORE_MEMORY_MODE": "off"}, timeout=300)
    again = json.loads(res.stdout)
    assert res.returncode == 0 and again["status"] == "verified", res.stderr
    assert again["patch"] == first["patch"] and again["usage"]["calls"] == 2
