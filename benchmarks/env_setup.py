"""Environment setup costs: deriving an image with a repo's requirements (first use), finding it
again (every later sandbox of that repo), deciding that a repo needs nothing (the minibench),
and starting a sandbox with the setup (derived image, found again) vs without it.

The requirements come from a local package index on the Docker bridge (tests/pkgindex.py), so
download time is near zero: the build figure is the tool's own cost plus pip's.

Run: DOCKER_HOST=... .venv/bin/python benchmarks/env_setup.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pkgindex import PackageIndex, make_tinycalc  # noqa: E402

from patchlore.config import Settings  # noqa: E402
from patchlore.evals.dataset import load_dataset  # noqa: E402
from patchlore.evals.repos import checkout  # noqa: E402
from patchlore.sandbox.env.envsetup import image_with_requirements  # noqa: E402
from patchlore.sandbox.factory import open_sandbox  # noqa: E402
from patchlore.sandbox.snapshot import take_snapshot  # noqa: E402

IMAGE = os.environ.get("PATCHLORE_IMAGE", "patchlore-sandbox:latest")


def timed(fn, n: int = 1) -> tuple[float, object]:
    times, out = [], None
    for _ in range(n):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    from patchlore.sandbox.docker_backend import docker_client

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["PATCHLORE_CACHE_DIR"] = str(tmp / "cache")
        index = PackageIndex(tmp / "index")
        os.environ.update(index.env)
        make_tinycalc(tmp / "repos", tmp / "d.jsonl")
        (inst,), _ = load_dataset(tmp / "d.jsonl")
        client = docker_client()
        snap = take_snapshot(checkout(inst, tmp / "repos", tmp / "work"))
        build_s, tag = timed(lambda: image_with_requirements(client, IMAGE, snap))
        cached_s, again = timed(lambda: image_with_requirements(client, IMAGE, snap), 10)
        assert again == tag != IMAGE, (again, tag)
        mirrors = tmp / "mirrors"
        subprocess.run([sys.executable, str(ROOT / "examples" / "minibench" / "build.py"),
                        "--mirrors", str(mirrors)], check=True, capture_output=True)
        minibench, _ = load_dataset(ROOT / "examples" / "minibench" / "minibench.jsonl")
        snaps = [take_snapshot(checkout(i, mirrors, tmp / i.instance_id)) for i in minibench]
        nothing_s, same = timed(lambda: [image_with_requirements(client, IMAGE, s)
                                         for s in snaps])
        assert set(same) == {IMAGE}
        starts = {}
        for name, setup in (("plain", False), ("derived", True)):
            settings = Settings(sandbox="docker", image=IMAGE, setup=setup)
            starts[name], _ = timed(lambda: open_sandbox(settings, snapshot=snap).close(), 5)
        size = client.images.get(tag).attrs["Size"] - client.images.get(IMAGE).attrs["Size"]
        client.images.remove(tag)
        index.close()
    print(json.dumps({
        "first_build_s": round(build_s, 2),
        "cached_lookup_ms": round(cached_s * 1000, 1),
        "nothing_to_install_ms_per_instance": round(nothing_s * 1000 / len(minibench), 3),
        "sandbox_start_plain_s": round(starts["plain"], 3),
        "sandbox_start_derived_s": round(starts["derived"], 3),
        "derived_image_extra_kb": round(size / 1e3, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
