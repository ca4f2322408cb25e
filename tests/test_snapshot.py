"""What a snapshot takes from the host repo, and what it leaves."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from conftest import make_repo
from patchlore.errors import NotARepoError, PatchloreError
from patchlore.sandbox.snapshot import find_repo_root, snapshot_tar, take_snapshot


def test_snapshot_lists_tracked_and_untracked_but_not_ignored(calc_repo):
    (calc_repo / "notes.md").write_text("untracked, kept\n")
    (calc_repo / "build").mkdir()
    (calc_repo / "build" / "out.o").write_text("ignored\n")
    (calc_repo / "test_calc.py").unlink()  # deleted in the working tree
    snap = take_snapshot(calc_repo)
    assert snap.files == [".gitignore", "calc.py", "notes.md"]


def test_subdirectory_is_a_repo_of_its_own(tmp_path):
    repo = make_repo(tmp_path / "mono", {"a/x.py": "1", "b/y.py": "2"})
    snap = take_snapshot(repo / "a")
    assert snap.root == (repo / "a").resolve() and snap.files == ["x.py"]


def test_symlinks_are_kept_not_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    repo = make_repo(tmp_path / "r", {"a.py": "1"})
    os.symlink(secret, repo / "link")
    data = snapshot_tar(take_snapshot(repo), "repo")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        link = tar.getmember("repo/link")
        assert link.issym() and link.linkname == str(secret)
        assert all(m.uid == 1000 for m in tar.getmembers())
    assert b"host secret" not in data


def test_errors(tmp_path):
    with pytest.raises(PatchloreError, match="no such directory"):
        find_repo_root(tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(PatchloreError, match="not a directory"):
        find_repo_root(tmp_path / "file")
    with pytest.raises(NotARepoError, match="not a git repository"):
        find_repo_root(tmp_path)
