"""What `eval run` and `eval grade` share as batches: scratch directories that name their owner,
leftovers of owners killed with -9 swept by the next batch, and a worker pool that stops taking
instances when the batch is interrupted."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

from patchlore.pool import pmap

# /tmp/patchlore-eval-<pid>-xxxx: the pid says whether the owner still runs
_OWNED = re.compile(r"patchlore-(?:eval|grade)-(\d+)-")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


@contextmanager
def scratch(kind: str):
    """A temporary directory for one instance, named after this process."""
    with tempfile.TemporaryDirectory(prefix=f"patchlore-{kind}-{os.getpid()}-") as tmp:
        yield Path(tmp)


def sweep(settings, warn: Callable[[str], None] = lambda m: None) -> list[str]:
    """Remove the scratch directories and sandbox containers of batches whose process is
    gone (killed with -9); never those of a live process. Returns what was removed."""
    removed = []
    base = Path(tempfile.gettempdir())
    for path in base.glob("patchlore-*-*-*"):
        owner = _OWNED.match(path.name)
        if owner and path.is_dir() and not pid_alive(int(owner[1])):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    if settings.sandbox != "local":
        from patchlore.errors import PatchloreError
        from patchlore.sandbox.docker_backend import docker_client, prune

        try:
            removed += [f"container {c}" for c in prune(docker_client(timeout=10))]
        except PatchloreError:
            pass  # no engine: nothing of ours can be running in it either
        except Exception as exc:  # a cleanup must never stop the batch it precedes
            warn(f"could not look for leftover sandboxes: {type(exc).__name__}: {exc}")
    return removed


class Batch:
    """One batch's workers. `stopping` is set when the batch is interrupted: what its workers
    finish after that (their sandboxes are being removed under them) is neither recorded nor
    reported, so a resume does it again. Each batch has its own: one interrupted batch does
    not silence the next one in the same process."""

    def __init__(self) -> None:
        self.stopping = threading.Event()

    def each(self, fn: Callable, items: Iterable, workers: int) -> list:
        """fn over items on `workers` threads, in order. On an interrupt the queued items are
        dropped at once instead of run to the end, and `stopping` is set."""
        try:
            return pmap(fn, items, workers)
        except BaseException:
            self.stopping.set()
            raise
