"""A thread pool that an interrupt does not wait for."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor


def pmap(fn: Callable, items: Iterable, workers: int) -> list:
    """fn over items on up to `workers` threads, results in order. When the caller stops (Ctrl-C,
    SIGTERM, an item's error) the pool is left at once: queued items are dropped and running
    ones are not waited for (the caller's cleanup removes their sandboxes under them).
    `with ThreadPoolExecutor` would wait for every running test command first."""
    items = list(items)
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(items))))
    try:
        return list(pool.map(fn, items))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
