"""The user's repo as it is now: tracked and untracked files, ignored files left out.

The host tree is only ever read here; sandboxes work on a copy.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from patchlore.errors import NotARepoError, PatchloreError


@dataclass
class Snapshot:
    root: Path
    files: list[str]  # paths relative to root, as git names them
    stamps: dict[str, tuple[int, int]] = field(default_factory=dict)  # path: (size, mtime_ns)

    def changed_since(self, paths: list[str]) -> list[str]:
        """Which of `paths` differ on the host from when the snapshot was taken."""
        changed = []
        for name in paths:
            try:
                st = (self.root / name).lstat()
                now: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
            except FileNotFoundError:
                now = None
            if now != self.stamps.get(name):
                changed.append(name)
        return changed

    @property
    def size(self) -> int:
        return sum((self.root / f).lstat().st_size for f in self.files)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise PatchloreError("git is not installed", hint="install git and rerun") from None


def find_repo_root(path: str | os.PathLike[str]) -> Path:
    """`path`, resolved, once it is known to lie in a git work tree; else a clear error.

    A sub-directory of a repository (a project in a monorepo) is a repo of its own here.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise PatchloreError(f"{p}: no such directory", hint="pass --repo PATH to a repository")
    if not p.is_dir():
        raise PatchloreError(f"{p}: not a directory", hint="pass --repo PATH to a repository")
    out = _git(p, "rev-parse", "--is-inside-work-tree")
    if out.returncode != 0 or out.stdout.strip() != b"true":
        raise NotARepoError(
            f"{p.resolve()}: not a git repository",
            hint="patchlore uses git to know which files belong to the repo: run `git init` there",
        )
    return p.resolve()


def take_snapshot(repo: str | os.PathLike[str]) -> Snapshot:
    root = find_repo_root(repo)
    out = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if out.returncode != 0:
        raise PatchloreError(f"{root}: git ls-files failed: {out.stderr.decode().strip()}")
    names = sorted({n for n in out.stdout.decode("utf-8", "surrogateescape").split("\0") if n})
    files, stamps = [], {}
    for name in names:
        try:
            st = (root / name).lstat()
        except FileNotFoundError:
            continue  # deleted in the working tree: the snapshot is the tree as it is now
        if not os.path.isdir(root / name) or os.path.islink(root / name):
            files.append(name)
            stamps[name] = (st.st_size, st.st_mtime_ns)
    return Snapshot(root=root, files=files, stamps=stamps)


def snapshot_tar(snap: Snapshot, prefix: str, uid: int = 1000, gid: int = 1000) -> bytes:
    """A tar of the snapshot under `prefix`, owned by uid:gid (symlinks kept, never followed)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name in snap.files:
            parent = os.path.dirname(name)
            while parent and parent not in dirs:
                dirs.add(parent)
                parent = os.path.dirname(parent)
        for d in [prefix, *(f"{prefix}/{d}" for d in sorted(dirs))]:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o755, uid, gid
            tar.addfile(info)
        for name in snap.files:
            info = tar.gettarinfo(str(snap.root / name), arcname=f"{prefix}/{name}")
            info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
            if info.isfile():
                with open(snap.root / name, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    return buf.getvalue()


def file_tar(files: dict[str, bytes], uid: int = 0, gid: int = 0, mode: int = 0o644) -> bytes:
    """A tar of {path: content}: small files handed to a container in one copy."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.uid, info.gid = len(data), mode, uid, gid
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def copy_snapshot(snap: Snapshot, dest: Path) -> None:
    """Copy the snapshot's files into `dest` (for the local backend, practice's repository).
    The copies are writable by their owner whatever the checkout's modes (a read-only CI
    checkout): a candidate or a mutant is written into them."""
    import shutil
    import stat

    for name in snap.files:
        src, dst = snap.root / name, dest / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst, follow_symlinks=False)
        if not dst.is_symlink():
            dst.chmod(dst.stat().st_mode | stat.S_IWUSR)
