"""The exploring loop on its own: a scripted model over real HTTP (litellm to tests/stub_llm.py)
drives real Docker sandboxes, one shell command per reply."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from conftest import tree_digest
from stub_llm import StubLLM
from patchlore.propose.explore import Budget, ExploreOptions, explore, start
from patchlore.llm.model import Usage, make_model
from patchlore.sandbox.factory import open_sandbox

pytestmark = pytest.mark.usefixtures("docker_ready")
MODEL = "hosted_vllm/stub-coder"


def bash(command: str, thought: str = "Next.") -> str:
    return f"{thought}\n\n```bash\n{command}\n```\n"


FIXING = [
    bash("ls", "Let me look around."),
    bash("nl -ba calc.py | sed -n '1,5p'", "Read the code under test."),
    bash("cat > test_mine.py <<'EOF'\nfrom calc import add\n\n\ndef test_mine():\n"
         "    assert add(2, 2) == 4\nEOF\npython3 -m pytest -q test_mine.py; true",
         "Reproduce it with a test of my own."),
    bash("sed -i 's/return a - b/return a + b/' calc.py", "add subtracts: fix it."),
    bash("python3 -m pytest -q", "Run the tests again."),
    bash("submit", "Done."),
]


@pytest.fixture
def box(calc_repo, settings):
    settings.sandbox = "docker"
    with open_sandbox(settings, str(calc_repo)) as sb:
        yield sb


def run(box, stub, opts=None, budget=None, first="Fix the failing test test_calc.py::test_add."):
    model = make_model(MODEL, stub.api_base)
    budget = budget or Budget(Usage())
    events = []
    result = explore(box, model, start(first), opts or ExploreOptions(command_timeout=60),
                     budget, log=lambda kind, **d: events.append((kind, d)))
    return result, events


def test_look_read_edit_submit_gives_the_sandbox_diff(box, calc_repo):
    before = tree_digest(calc_repo)
    with StubLLM([[r] for r in FIXING]) as stub:
        result, events = run(box, stub)
    assert result.status == "submitted", result.message
    assert result.mode == "text"  # the stub refused the bash tool: text it is
    assert [s.exit_code for s in result.steps] == [0, 0, 0, 0, 0]
    # the sandbox's own diff: the fix, without the test file the model wrote for itself
    assert "-    return a - b\n+    return a + b" in result.diff
    assert "test_mine.py" not in result.diff
    assert box.read_file("test_mine.py") is not None  # it was really written in the sandbox
    assert result.mattered() == [FIXING[1].split("```bash\n")[1].split("\n```")[0],
                                 "sed -i 's/return a - b/return a + b/' calc.py"]
    # each request repeats the previous one's messages as its prefix
    bodies = [r for r in stub.requests if not r.get("tools")]
    assert len(bodies) == len(FIXING)
    for a, b in zip(bodies, bodies[1:]):
        assert b["messages"][:len(a["messages"])] == a["messages"]
    assert "3 passed" in bodies[-1]["messages"][-1]["content"]
    assert result.usage.calls == len(FIXING)
    assert tree_digest(calc_repo) == before


def test_the_bash_tool_is_used_where_the_server_offers_it(box):
    calls = [{"content": None, "tool_calls": [{"name": "bash", "arguments": {"command": c}}]}
             for c in ("grep -n 'a - b' calc.py",
                       "sed -i 's/return a - b/return a + b/' calc.py", "submit")]
    with StubLLM([[c] for c in calls], tools=True) as stub:
        result, _ = run(box, stub)
    assert result.status == "submitted" and result.mode == "tools"
    assert "+    return a + b" in result.diff
    last = stub.requests[-1]["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "tool", "assistant",
                                         "tool"]
    assert "2:    return a - b" in last[3]["content"]  # the grep's output, as a tool result
    assert last[3]["tool_call_id"] == last[2]["tool_calls"][0]["id"]
    assert all(r["tools"][0]["function"]["name"] == "bash" for r in stub.requests)


def test_hostile_commands_are_contained(box, calc_repo, settings):
    before = tree_digest(calc_repo)
    escape = f"/tmp/patchlore-escape-{uuid.uuid4().hex}"
    script = [
        bash("python3 -c \"import socket; socket.create_connection(('192.0.2.1', 80), "
             "timeout=5)\""),
        bash(f"echo x > {escape}; echo hacked > {calc_repo}/calc.py; "
             "echo root >> /etc/passwd; cat " + escape),
        bash("bomb() { bomb | bomb & }; bomb; sleep 30"),
        bash("sleep 100000"),
        bash("echo still-here && id -u"),
        bash("submit"),
    ]
    with StubLLM([[r] for r in script]) as stub:
        result, _ = run(box, stub, ExploreOptions(command_timeout=5))
    seen = [m["content"] for m in stub.requests[-1]["messages"] if m["role"] == "user"][1:]
    assert "unreachable" in seen[0].lower() and "<exit_code>1</exit_code>" in seen[0]
    assert "Permission denied" in seen[1]
    assert result.steps[2].timed_out or result.steps[2].exit_code != 0
    assert result.steps[3].timed_out and "killed after 5 s" in seen[3]
    assert "still-here\n1000" in seen[4]
    assert result.status == "submitted" and result.diff == ""
    assert not Path(escape).exists()
    assert tree_digest(calc_repo) == before


def test_malformed_replies_get_the_reminder_and_end_at_the_step_limit(box):
    script = ["I would look at calc.py.", bash("ls") + "\nand then\n" + bash("cat calc.py"),
              "\x00\x7f}{ ```bash", "```python\nprint(1)\n```"]
    with StubLLM([[r] for r in script]) as stub:
        result, _ = run(box, stub, ExploreOptions(max_steps=4))
    assert result.status == "step-limit" and "--max-steps 4" in result.message
    assert result.steps == [] and result.diff == ""
    reminders = [m["content"] for m in result.messages if m["role"] == "user"][1:]
    assert len(reminders) == 4
    assert "it held 0" in reminders[0] and "it held 2" in reminders[1]
    assert all("exactly one ```bash block" in r for r in reminders)


def test_bad_tool_calls_get_the_reminder(box):
    two = {"content": "", "tool_calls": [{"name": "bash", "arguments": {"command": "ls"}},
                                         {"name": "bash", "arguments": {"command": "pwd"}}]}
    wrong = {"content": "", "tool_calls": [{"name": "python", "arguments": "{not json"}]}
    with StubLLM([[two], [wrong]], tools=True) as stub:
        result, _ = run(box, stub, ExploreOptions(max_steps=2))
    assert result.status == "step-limit" and result.steps == []
    answers = [m for m in result.messages if m["role"] == "tool"]
    assert len(answers) == 3 and all("once per reply" in m["content"] for m in answers)


def test_max_calls_stops_the_loop(box):
    with StubLLM([[bash("ls")]] * 5) as stub:
        result, _ = run(box, stub, budget=Budget(Usage(), max_calls=2))
    assert result.status == "budget" and result.message == "stopped at --max-calls 2"
    assert len(result.steps) == 2


def test_the_deadline_stops_a_running_command(box):
    """The step's `sleep 600` is cut at the deadline (it times out; the next step is never
    asked for). 20 s leave the first request time on a loaded machine."""
    with StubLLM([[bash("sleep 600")], [bash("ls")]]) as stub:
        result, _ = run(box, stub, budget=Budget(Usage(), deadline=time.monotonic() + 20))
    assert result.steps[0].timed_out
    assert result.status == "budget" and result.message == "stopped at --timeout"
    assert len([r for r in stub.requests if not r.get("tools")]) == 1
