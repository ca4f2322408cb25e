"""patchlore: a code-repair agent that proves its fixes in a sandbox and remembers what worked."""

__version__ = "0.1.0"
