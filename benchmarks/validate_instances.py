"""Validate mined instances by running them, as SWE-bench validates its rows.

The miner (benchmarks/mine_instances.py) labels tests by reading the code: the new test
functions are FAIL_TO_PASS. Two things only a run can tell: a test parametrized through a
fixture has ids the source does not spell (`t.py::test_x[a]`), and a new test may pass without
the fix (it then shows no bug). `validate` reads the statuses of a run with the test patch
alone ("before", the no-fix grade) and with the gold patch too ("after", the gold grade), each
`eval grade`'s logs/<id>/tests.json, and relabels the row:

- a mined id stands for the run's ids that are it or it with parameters (`id[...]`);
- FAIL_TO_PASS keeps the tests that do not pass before; a new test that passes before goes to
  PASS_TO_PASS (it must still pass after);
- an instance none of whose new tests fails before is dropped: its tests cannot tell the fix
  from none (a broken environment never makes a test pass, so this drops no environment
  failure);
- an instance without runs to read (its environment did not build, its tests did not run)
  stays as mined and counts as it is: the environment is what is measured.

Nothing is dropped for what happens "after": a test that fails with the fix counts against the
environment, whatever the cause.
"""

from __future__ import annotations

import json
from pathlib import Path

from patchlore.sandbox.verify import PASSING


def expand(ids: list[str], seen: set[str]) -> list[str]:
    """Each id as the run reported it: itself, or its parametrized ids; unseen ids stay."""
    out: list[str] = []
    for test in ids:
        params = sorted(t for t in seen if t.startswith(test + "["))
        out += [test] if test in seen or not params else params
    return list(dict.fromkeys(out))


def validate(row: dict, before: dict[str, str],
             after: dict[str, str]) -> tuple[dict | None, str]:
    """The row relabelled by its runs (None: dropped), and why it changed ('' : it did not)."""
    if not before and not after:
        return row, ""
    seen = set(before) | set(after)
    f2p = expand(row["FAIL_TO_PASS"], seen)
    p2p = expand(row["PASS_TO_PASS"], seen)
    passing = [t for t in f2p if before.get(t) in PASSING]
    failing = [t for t in f2p if t not in passing]
    if not failing:
        return None, f"its {len(f2p)} new test(s) pass without the fix"
    new = {**row, "FAIL_TO_PASS": failing,
           "PASS_TO_PASS": list(dict.fromkeys(p2p + passing))}
    changed = new["FAIL_TO_PASS"] != row["FAIL_TO_PASS"] or \
        new["PASS_TO_PASS"] != row["PASS_TO_PASS"]
    return new, (f"relabelled by its runs: {len(failing)} FAIL_TO_PASS, "
                 f"{len(new['PASS_TO_PASS'])} PASS_TO_PASS" if changed else "")


def relabel(rows: list[dict], before: dict[str, dict[str, str]],
            after: dict[str, dict[str, str]]) -> tuple[list[dict], dict[str, str], dict[str, str]]:
    """`validate` over rows, by instance id: the rows kept (relabelled), and why each dropped
    or relabelled one was."""
    kept, dropped, relabelled = [], {}, {}
    for r in rows:
        iid = r["instance_id"]
        new, why = validate(r, before.get(iid, {}), after.get(iid, {}))
        if new is None:
            dropped[iid] = why
        else:
            kept.append(new)
            if why:
                relabelled[iid] = why
    return kept, dropped, relabelled


def run_statuses(run: Path, ids: list[str]) -> dict[str, dict[str, str]]:
    """Each instance's test statuses from an `eval grade` output folder ({}: it has none)."""
    found = {}
    for iid in ids:
        f = run / "logs" / iid / "tests.json"
        found[iid] = json.loads(f.read_text()) if f.is_file() else {}
    return found


def judged(rows: list[dict], statuses: dict[str, dict[str, str]]) -> list[str]:
    """The ids of the rows whose tests pass by SWE-bench's rule in the runs `statuses` holds."""
    from patchlore.sandbox.verify import judge

    return [r["instance_id"] for r in rows
            if statuses.get(r["instance_id"]) and
            judge(statuses[r["instance_id"]], r["FAIL_TO_PASS"], r["PASS_TO_PASS"]) == ([], [])]
