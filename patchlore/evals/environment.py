"""Where an instance's tests run.

In order: the row's own `image` (the repo inside, SWE-bench's at /testbed), else
--image-template, else the sandbox image with the repo copied in at its base commit, with the
repo's requirements installed into a derived image (sandbox/envsetup.py). The row's own
`pre_install`, `pip_packages` and `install` fields, when it has them, are that recipe;
otherwise it is guessed from the repo's files at the base commit. Dependencies resolve as of
the row's `created_at` (else the base commit's date; the deps_date setting overrides both).
"""

from __future__ import annotations

import dataclasses
import shlex

from patchlore.config import Settings
from patchlore.evals.dataset import Instance


def environment(inst: Instance, settings: Settings, image_template: str = "") -> Settings:
    """The settings to run `inst`'s tests with."""
    image = inst.extra.get("image") or ""
    if not image and image_template:
        owner, _, name = inst.repo.partition("/")
        image = image_template.format(
            instance_id=inst.instance_id, owner=owner, name=name,
            id_1776=inst.instance_id.replace("__", "_1776_"))  # SWE-bench's image naming
    if image:
        return dataclasses.replace(settings, image=image, workdir=settings.workdir or "/testbed")
    # dependencies as of the row's date, unless the deps_date setting says otherwise
    created = str(inst.extra.get("created_at") or "")[:10]
    return dataclasses.replace(settings, setup_cmd=row_recipe(inst) or settings.setup_cmd,
                               deps_date=settings.deps_date or created)


def row_recipe(inst: Instance) -> str:
    """The install commands a row carries (SWE-bench's spec field names), one per line."""
    def listed(value) -> list[str]:
        return [value] if isinstance(value, str) else [str(v) for v in value or []]

    steps = listed(inst.extra.get("pre_install"))
    if inst.extra.get("pip_packages"):
        steps.append("python -m pip install " + shlex.join(listed(inst.extra["pip_packages"])))
    steps += listed(inst.extra.get("install"))
    return "\n".join(steps)
