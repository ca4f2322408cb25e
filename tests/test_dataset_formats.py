"""Datasets from .parquet files and from Hugging Face dataset folders, read for real (pyarrow
and the `datasets` package, offline: a folder laid out the way the hub serves one)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import run_cli
from patchlore.evals.dataset import load_dataset

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "examples" / "minibench" / "minibench.jsonl"
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def rows() -> list[dict]:
    return [json.loads(line) for line in DATASET.read_text().splitlines()]


def write_parquet(path: Path, data: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(data), path)


def test_parquet_loads_like_jsonl(tmp_path):
    write_parquet(tmp_path / "d.parquet", rows())
    from_parquet, problems = load_dataset(tmp_path / "d.parquet")
    from_jsonl, _ = load_dataset(DATASET)
    assert not problems
    assert from_parquet == from_jsonl


def test_a_hub_folder_loads_by_split(tmp_path, monkeypatch):
    for k, v in OFFLINE.items():
        monkeypatch.setenv(k, v)
    data = rows()
    folder = tmp_path / "SWE-bench_Mini"
    write_parquet(folder / "data" / "test-00000-of-00001.parquet", data[:8])
    write_parquet(folder / "data" / "dev-00000-of-00001.parquet", data[8:])
    test, problems = load_dataset(folder, split="test")
    dev, _ = load_dataset(folder, split="dev")
    expected, _ = load_dataset(DATASET)
    assert not problems
    assert test == expected[:8] and dev == expected[8:]


def test_unknown_split_and_unreachable_hub_are_one_clear_line(tmp_path):
    folder = tmp_path / "ds"
    write_parquet(folder / "data" / "test-00000-of-00001.parquet", rows()[:2])
    res = run_cli("eval", "grade", "--dataset", str(folder), "--split", "train",
                  "--predictions", "gold", "--repos-dir", str(tmp_path), env=OFFLINE)
    assert res.returncode == 2, res.stderr
    assert "could not load split 'train'" in res.stderr and "Traceback" not in res.stderr
    hub = run_cli("eval", "grade", "--dataset", "nobody-here/no-such-dataset",
                  "--predictions", "gold", "--repos-dir", str(tmp_path), env=OFFLINE)
    assert hub.returncode == 2 and "could not load split 'test'" in hub.stderr
    assert "Traceback" not in hub.stderr


def test_without_the_datasets_package_a_hub_name_says_what_to_install(tmp_path):
    # a module that fails to import stands in for an environment without the package
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "datasets.py").write_text("raise ImportError('blocked for this test')\n")
    res = run_cli("eval", "grade", "--dataset", "princeton-nlp/SWE-bench_Lite",
                  "--predictions", "gold", "--repos-dir", str(tmp_path),
                  env={"PYTHONPATH": str(blocker)})
    assert res.returncode == 2
    assert "needs the `datasets` package" in res.stderr and "patchlore[hf]" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_repeated_instance_id_is_loaded_and_counted_once(tmp_path):
    """Issue 19: a repeated row was graded and counted twice in resolved_ids and the totals."""
    row = json.loads((Path(__file__).resolve().parent.parent / "examples" / "minibench" /
                      "minibench.jsonl").read_text().splitlines()[0])
    (tmp_path / "d.jsonl").write_text((json.dumps(row) + "\n") * 3)
    instances, problems = load_dataset(tmp_path / "d.jsonl")
    assert [i.instance_id for i in instances] == [row["instance_id"]]
    assert problems == [f"d.jsonl row {n} ({row['instance_id']}): instance_id repeats row 1"
                        for n in (2, 3)]
