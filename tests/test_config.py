"""Layered configuration: flags > environment > repo files > user file > defaults."""

from __future__ import annotations

import json

import pytest

from conftest import make_repo, run_cli
from patchlore.config import load_settings
from patchlore.errors import ConfigError


pytestmark = pytest.mark.usefixtures("no_settings_from_outside")


def write_user(tmp_path, text):
    path = tmp_path / "xdg" / "patchlore" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_defaults(tmp_path):
    s = load_settings(tmp_path)
    assert s.sandbox == "auto" and s.timeout == 600.0 and s.network is False
    assert set(s.sources.values()) == {"default"}


def test_each_layer_overrides_the_one_below(tmp_path, monkeypatch):
    user = write_user(tmp_path, 'timeout = 10\nimage = "user:1"\ntest-cmd = "make test"\n'
                                'cpus = 1\npids_limit = 64\n')
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text('[tool.patchlore]\ntimeout = 20\nimage = "proj:1"\n'
                                         'cpus = 3\n')
    (repo / ".patchlore.toml").write_text("timeout = 30\ncpus = 1.5\n")
    monkeypatch.setenv("PATCHLORE_TIMEOUT", "40")
    s = load_settings(repo, {"timeout": 50.0, "image": None})
    assert s.timeout == 50.0 and s.sources["timeout"] == "flag"
    assert s.image == "proj:1" and "pyproject.toml" in s.sources["image"]
    assert s.cpus == 1.5 and s.sources["cpus"].endswith(".patchlore.toml")
    assert s.test_cmd == "make test" and s.sources["test_cmd"] == str(user)
    assert s.pids_limit == 64
    monkeypatch.delenv("PATCHLORE_TIMEOUT")
    monkeypatch.setenv("PATCHLORE_NETWORK", "yes")
    s = load_settings(repo)
    assert s.timeout == 30.0 and s.network is True and s.sources["network"] == "environment"


@pytest.mark.parametrize("text, words", [
    ("timout = 5\n", ["unknown setting 'timout'", "did you mean 'timeout'"]),
    ("timeout = 'soon'\n", ["timeout = 'soon' is not a valid float"]),
    ("network = 3\n", ["not a valid bool"]),
    ("timeout = [\n", ["not valid TOML"]),
    ('sandbox = "podman"\n', ["sandbox = 'podman'", "auto, docker, local"]),
    ('memory_mode = "onlin"\n', ["memory_mode = 'onlin' is not one of off, read, online",
                                 "did you mean 'online'"]),
    ("timeout = -5\n", ["timeout = -5.0 must be a positive number"]),
    ("timeout = 0\n", ["timeout = 0.0 must be a positive number"]),
    ("timeout = nan\n", ["timeout = nan must be a positive number"]),
    ("pids_limit = 0\n", ["pids_limit = 0 must be a positive number"]),
    ('mem_limit = "lots"\n', ["mem_limit = 'lots' is not a size"]),
])
def test_bad_files_name_the_file_and_the_setting(tmp_path, text, words):
    (tmp_path / ".patchlore.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)
    said = info.value.message + " " + info.value.hint
    assert info.value.message.startswith(f"{tmp_path / '.patchlore.toml'}: ")
    assert all(w in said for w in words), said


def test_a_bad_choice_names_the_variable_or_the_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHLORE_MEMORY_MODE", "onlin")
    with pytest.raises(ConfigError, match=r"^\$PATCHLORE_MEMORY_MODE: memory_mode = 'onlin'"):
        load_settings(tmp_path)
    monkeypatch.delenv("PATCHLORE_MEMORY_MODE")
    with pytest.raises(ConfigError, match=r"^--memory-mode: memory_mode = 'of' is not one"):
        load_settings(tmp_path, {"memory_mode": "of"})
    with pytest.raises(ConfigError, match=r"^--timeout: timeout = -5.0 must be a positive number"):
        load_settings(tmp_path, {"timeout": "-5"})


def test_config_show_prints_values_and_sources(tmp_path):
    repo = make_repo(tmp_path / "r", {"pyproject.toml": "[tool.patchlore]\nmem_limit = '1g'\n"})
    res = run_cli("config", "show", "--repo", str(repo), "--json",
                  env={"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PATCHLORE_CPUS": "0.5"})
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["mem_limit"] == {"value": "1g", "source": f"{repo / 'pyproject.toml'} "
                                 "[tool.patchlore]"}
    assert data["cpus"] == {"value": 0.5, "source": "environment"}
    assert data["model"]["source"] == "default"
    table = run_cli("config", "show", "--repo", str(repo), env={"PATCHLORE_CPUS": "0.5"})
    assert "mem_limit" in table.stdout and "environment" in table.stdout


def test_config_error_is_one_line_exit_2(tmp_path):
    (tmp_path / ".patchlore.toml").write_text("colour = 'red'\n")
    res = run_cli("config", "show", "--repo", str(tmp_path))
    assert res.returncode == 2
    assert res.stderr.strip().startswith("error:") and "colour" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
