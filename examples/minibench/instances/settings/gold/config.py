"""Application settings with defaults."""

DEFAULTS = {"retries": 3, "timeout": 30, "verbose": False}


def load(overrides: dict | None = None, base: dict | None = None) -> dict:
    """Defaults, then `base`, then `overrides`; never changes its arguments."""
    settings = dict(base or {})
    settings.update(DEFAULTS)
    settings.update(overrides or {})
    return settings
