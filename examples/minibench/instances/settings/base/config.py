"""Application settings with defaults."""

DEFAULTS = {"retries": 3, "timeout": 30, "verbose": False}


def load(overrides: dict | None = None, base: dict = {}) -> dict:
    """Defaults, then `base`, then `overrides`; never changes its arguments."""
    settings = base
    settings.update(DEFAULTS)
    settings.update(overrides or {})
    return settings
