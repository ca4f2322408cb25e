"""SWE-bench-format datasets and predictions, read from local .json, .jsonl or .parquet files,
or with the `datasets` package (the `hf` extra): a Hugging Face dataset name when the network
allows, or a dataset folder downloaded from the hub.

A malformed row is reported (row number and field) and skipped; the rest load.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from patchlore.errors import PatchloreError
from patchlore.paths import id_problem

REQUIRED = ("instance_id", "repo", "base_commit", "problem_statement", "patch", "test_patch",
            "FAIL_TO_PASS", "PASS_TO_PASS")


@dataclass
class Instance:
    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    patch: str
    test_patch: str
    FAIL_TO_PASS: list[str]
    PASS_TO_PASS: list[str]
    hints_text: str = ""
    version: str = ""
    environment_setup_commit: str = ""
    extra: dict = field(default_factory=dict)  # newer fields (image, eval_script, ...)


def _hub_rows(name: str, split: str) -> list:
    """A Hugging Face dataset by name or downloaded folder (needs the `datasets` package)."""
    try:
        import datasets
    except ImportError:
        raise PatchloreError(f"{name}: not a file, and loading a Hugging Face dataset needs "
                             "the `datasets` package", hint="pip install 'patchlore[hf]', or "
                             "pass a local .json/.jsonl/.parquet file") from None
    try:
        return [dict(r) for r in datasets.load_dataset(name, split=split)]
    except Exception as exc:  # offline, unknown name, unknown split: all one answer
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise PatchloreError(f"{name}: could not load split {split!r} with `datasets` "
                             f"({type(exc).__name__}: {first})",
                             hint="check the name, split and network, or pass a local file"
                             ) from None


def _rows(path: Path, split: str = "test", flag: str = "--dataset") -> list:
    """The rows of a file (or hub dataset); `flag` names where the path came from."""
    if path.is_dir():  # a dataset folder as downloaded from the hub
        return _hub_rows(str(path), split)
    if not path.is_file():
        if re.fullmatch(r"[\w.-]+/[\w.-]+", str(path)) and path.suffix not in (
                ".json", ".jsonl", ".parquet"):
            return _hub_rows(str(path), split)
        raise PatchloreError(f"{flag} {path}: no such file", hint=f"pass {flag} a .json, "
                             ".jsonl or .parquet file" + (", or a Hugging Face dataset name"
                                                          if flag == "--dataset" else ""))
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise PatchloreError("reading .parquet needs pyarrow",
                                 hint="pip install 'patchlore[parquet]'") from None
        import pyarrow

        try:
            return pq.read_table(path).to_pylist()
        except (pyarrow.ArrowException, OSError) as exc:
            raise PatchloreError(f"{flag} {path}: not a parquet file ({exc})") from None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PatchloreError(f"{flag} {path}: not a UTF-8 text file",
                             hint=f"pass {flag} a .json, .jsonl or .parquet file") from None
    except OSError as exc:
        raise PatchloreError(f"{flag} {path}: cannot be read ({exc.strerror})") from None
    if path.suffix == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    rows.append(ValueError(f"not JSON ({exc.msg})"))
        return rows
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PatchloreError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    return data if isinstance(data, list) else list(data.values())


def _test_list(value, name: str) -> list[str]:
    if isinstance(value, str):
        value = json.loads(value)  # SWE-bench stores the lists JSON-encoded
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list of test ids")
    return value


def load_dataset(path: Path, split: str = "test") -> tuple[list[Instance], list[str]]:
    """The valid instances, and one message per malformed row."""
    instances, problems, first_row = [], [], {}
    for n, row in enumerate(_rows(path, split), 1):
        try:
            if isinstance(row, Exception):
                raise row
            if not isinstance(row, dict):
                raise ValueError("not an object")
            missing = [f for f in REQUIRED if f not in row]
            if missing:
                raise ValueError(f"missing field {missing[0]!r}")
            for f in ("instance_id", "repo", "base_commit"):
                if not isinstance(row[f], str) or not row[f]:
                    raise ValueError(f"field {f!r} must be a non-empty string")
            # the id names the instance's folders under --output: it must stay one name
            if id_problem(row["instance_id"]):
                raise ValueError(f"instance_id {id_problem(row['instance_id'])}")
            if row["instance_id"] in first_row:  # graded and counted once, as the first row
                raise ValueError(f"instance_id repeats row {first_row[row['instance_id']]}")
            known = set(Instance.__dataclass_fields__) - {"extra"}
            instances.append(Instance(
                **{k: row[k] for k in known if k in row and k not in
                   ("FAIL_TO_PASS", "PASS_TO_PASS")},
                FAIL_TO_PASS=_test_list(row["FAIL_TO_PASS"], "FAIL_TO_PASS"),
                PASS_TO_PASS=_test_list(row["PASS_TO_PASS"], "PASS_TO_PASS"),
                extra={k: v for k, v in row.items() if k not in known}))
            first_row[row["instance_id"]] = n
        except (ValueError, TypeError) as exc:
            rid = row.get("instance_id", "?") if isinstance(row, dict) else "?"
            problems.append(f"{path.name} row {n} ({rid}): {exc}")
    return instances, problems


class Predictions(dict):
    """{instance id: the patch to grade}; `invalid` holds the rows that cannot be graded (id:
    why), `notes` what to say about the file (unknown ids, duplicates: one line per id)."""

    def __init__(self, patches: dict[str, str] | None = None) -> None:
        super().__init__(patches or {})
        self.invalid: dict[str, str] = {}
        self.notes: list[str] = []


def load_predictions(spec: str, instances: list[Instance]) -> Predictions:
    """Predictions from a file (JSONL, JSON list, or dict keyed by id), or the dataset's own
    `gold` patches, or `empty` ones. As SWE-bench's harness, the last row of an id wins."""
    if spec == "gold":
        return Predictions({i.instance_id: i.patch for i in instances})
    if spec == "empty":
        return Predictions({i.instance_id: "" for i in instances})
    path = Path(spec)
    rows: dict[str, list[int]] = {}
    out = Predictions()
    for n, row in enumerate(_rows(path, flag="--predictions"), 1):
        if isinstance(row, Exception) or not isinstance(row, dict) or \
                not isinstance(row.get("instance_id"), str):
            raise PatchloreError(f"{path.name} row {n}: not a prediction",
                                 hint="rows need instance_id, model_name_or_path, model_patch")
        iid, patch = row["instance_id"], row.get("model_patch")
        rows.setdefault(iid, []).append(n)
        out.pop(iid, None)
        out.invalid.pop(iid, None)
        if patch is None or isinstance(patch, str):
            out[iid] = patch or ""
        else:
            out.invalid[iid] = (f"{path.name} row {n}: model_patch is a "
                                f"{type(patch).__name__}, not a string")
    known = {i.instance_id for i in instances}
    for iid, lines in rows.items():
        if iid not in known:
            out.notes.append(f"{path.name} row {lines[-1]}: {iid} is not in the dataset: "
                             "not graded")
            out.pop(iid, None)
            out.invalid.pop(iid, None)
        elif len(lines) > 1:
            out.notes.append(f"{path.name}: {len(lines)} predictions for {iid} (rows "
                             f"{', '.join(map(str, lines))}): the last, row {lines[-1]}, is "
                             "graded")
    return out


def select(instances: list[Instance], ids: list[str] | None = None, slice_: str = "",
           pattern: str = "") -> list[Instance]:
    """--instances, then --filter (a regex on ids), then --slice A:B; an error naming the
    first of them that leaves nothing (a run of nothing is never a success)."""
    if ids:
        wanted = set(ids)
        instances = [i for i in instances if i.instance_id in wanted]
        if not instances:
            raise PatchloreError(f"--instances {', '.join(ids)}: none is in the dataset",
                                 hint="the ids are the dataset's instance_id fields")
    if pattern:
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise PatchloreError(f"--filter {pattern!r}: not a regular expression ({exc})") \
                from None
        count = len(instances)
        instances = [i for i in instances if rx.search(i.instance_id)]
        if not instances:
            raise PatchloreError(f"--filter {pattern!r}: matches none of the {count} "
                                 "instance id(s)", hint="it is a regex searched in each id")
    if slice_:
        bounds = re.fullmatch(r"(-?\d*):(-?\d*)", slice_.strip())
        if not bounds:
            raise PatchloreError(f"--slice {slice_!r}: not A:B",
                                 hint="e.g. --slice 0:10, --slice 5: or --slice :-2")
        a, b = (int(x) if x else None for x in bounds.groups())
        count = len(instances)
        instances = instances[a:b]
        if not instances:
            raise PatchloreError(f"--slice {slice_}: selects none of the {count} instance(s)",
                                 hint="A:B keeps rows A to B-1, so A must come before B")
    return instances
