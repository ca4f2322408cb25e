"""One settings mechanism: every setting has a flag made from its metadata (or says why not),
`config show` lists each with its source, the README's table is made from the same metadata,
and a setting set in the environment or a file reaches the run as its flag does."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
from pathlib import Path

import pytest
import typer

from conftest import make_repo, run_cli
from patchlore.cli.root import app
from patchlore.cli.options import flags_by_setting
from patchlore.config import SETTING_NAMES, SETTINGS_META, flag_of
from stub_llm import StubLLM

ROOT = Path(__file__).resolve().parent.parent
GARBAGE = "I think the problem is somewhere in the code. Good luck!"


pytestmark = pytest.mark.usefixtures("no_settings_from_outside")


def unflagged(command) -> list[str]:
    """Settings no command sets by their flag and that do not say why they have none."""
    flags = flags_by_setting(command)
    return [n for n in SETTING_NAMES if "no_flag" not in SETTINGS_META[n][0]
            and not any(flag_of(n) in f for f in flags.get(n, {}).values())]


def test_every_setting_has_a_flag_or_says_why_not():
    assert unflagged(typer.main.get_command(app)) == []
    flags = flags_by_setting(typer.main.get_command(app))
    said_none = [n for n in SETTING_NAMES if "no_flag" in SETTINGS_META[n][0] and flags.get(n)]
    assert said_none == []  # a reason for no flag, next to a flag, would be stale
    # the check sees a setting that loses its only flag (as one added without a flag)
    tree = typer.main.get_command(app)
    grade = tree.commands["eval"].commands["grade"]
    grade.params = [p for p in grade.params if p.name != "runner"]
    assert unflagged(tree) == ["runner"]


def test_config_show_lists_every_setting_with_where_it_came_from(tmp_path):
    repo = make_repo(tmp_path / "r", {".patchlore.toml": "timeout = 30\nrounds = 3\n"})
    res = run_cli("config", "show", "--repo", str(repo), "--json",
                  env={"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PATCHLORE_SAMPLES": "5"})
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert set(data) - {"_user_config"} == set(SETTING_NAMES)
    assert data["samples"] == {"value": 5, "source": "environment"}
    dotfile = str(repo / ".patchlore.toml")
    assert data["rounds"] == {"value": 3, "source": dotfile}
    assert data["command_timeout"] == {"value": 30.0, "source": dotfile}  # its old name
    assert data["deadline"] == {"value": None, "source": "default"}
    table = run_cli("config", "show", "--repo", str(repo), env={"COLUMNS": "200"})
    names = [line.split("│")[1].strip() for line in table.stdout.splitlines()
             if line.count("│") >= 3]
    assert set(SETTING_NAMES) <= set(names)


def test_readme_table_is_made_from_the_settings():
    path = ROOT / "scripts" / "settings-table"
    loader = importlib.machinery.SourceFileLoader("settings_table", str(path))
    script = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(script)
    made = script.table()
    assert script.readme_copy((ROOT / "README.md").read_text()) == made
    assert all(f"| `{n}` |" in made for n in SETTING_NAMES)


def test_old_names_still_work(tmp_path):
    from patchlore.config import load_settings

    (tmp_path / ".patchlore.toml").write_text("timeout = 30\n")
    s = load_settings(tmp_path, {"deadline": 9})
    assert s.command_timeout == 30.0 and s.timeout == 30.0 and s.deadline == 9.0
    res = run_cli("sandbox", "exec", "--timeout", "0", "--", "true")
    assert res.returncode == 2 and "--timeout" in res.stderr  # the old flag, still checked
    res = run_cli("localize", "--repo", str(tmp_path), "--issue", "x", "--budget", "5")
    assert res.returncode == 2 and "--budget" in res.stderr


@pytest.fixture
def pricing(tmp_path):
    example = ROOT / "examples" / "pricing"
    return make_repo(tmp_path / "pricing", {p.name: p.read_text() for p in example.iterdir()
                                            if p.is_file()})


def test_samples_and_rounds_from_the_environment_reach_the_run(pricing):
    """They were flags only: PATCHLORE_SAMPLES and PATCHLORE_ROUNDS were not read."""
    with StubLLM(lambda body: [GARBAGE] * body.get("n", 1)) as stub:
        res = run_cli("fix", "--repo", str(pricing), "--model", "hosted_vllm/stub-coder",
                      "--api-base", stub.api_base, "--sandbox", "local", "--json",
                      env={"PATCHLORE_TEST_CMD": "python3 -m pytest -q -p no:cacheprovider",
                           "PATCHLORE_MEMORY_MODE": "off", "PATCHLORE_SAMPLES": "3",
                           "PATCHLORE_ROUNDS": "3"}, timeout=300)
    assert res.returncode == 1, res.stderr
    out = json.loads(res.stdout)
    assert out["rounds"] == 3
    assert [r.get("n") for r in stub.requests] == [3, 3, 3]


def test_the_embedder_setting_reaches_the_store(tmp_path):
    """The sentence-transformers and litellm embedders were reached by tests only: the
    embedder setting now picks one for every store a command opens."""
    from patchlore.memory.schema import VERIFIED, Episode, Signature
    from patchlore.memory.store import MemoryStore

    src = tmp_path / "src"
    MemoryStore(src).put_many([Episode(repo="r", task="zzzz zebra", signature=Signature(),
                                       diff="+x\n", outcome=VERIFIED)])
    exported = tmp_path / "m.jsonl"
    assert run_cli("memory", "export", str(exported), "--memory", str(src)).returncode == 0
    store = str(tmp_path / "m")
    with StubLLM() as stub:
        env = {"PATCHLORE_EMBEDDER": f"litellm:hosted_vllm/embedder@{stub.api_base}"}
        res = run_cli("memory", "import", str(exported), "--memory", store, env=env)
        assert res.returncode == 0, res.stderr
        res = run_cli("memory", "search", "zebra", "--memory", store, env=env)
        assert res.returncode == 0, res.stderr
    assert any("input" in r for r in stub.requests)  # the embeddings endpoint was asked
    res = run_cli("memory", "stats", "--memory", store, env={"PATCHLORE_EMBEDDER": "bogus"})
    assert res.returncode == 2 and "$PATCHLORE_EMBEDDER: embedder = 'bogus'" in res.stderr
