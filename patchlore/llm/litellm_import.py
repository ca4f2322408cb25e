"""litellm, imported the way a command-line tool needs it: no price-map download at import
(offline it retries for seconds), and no `.env` file loaded into our environment (litellm's
default "DEV" mode loads one found near its install, e.g. a project's own, whose variables
would then reach local sandboxes). Both can still be set by the user."""

from __future__ import annotations

import os

from patchlore.warmup import heavy


def import_litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_MODE", "PRODUCTION")
    litellm = heavy("litellm")

    litellm.suppress_debug_info = True
    return litellm
