"""Errors a user can act on. The CLI prints them as one line with a hint, never a traceback."""

from __future__ import annotations

# Documented exit codes (README, "Exit codes").
EXIT_OK = 0
EXIT_FAILED = 1  # the tool ran, but what was asked for did not happen (no fix, a check failed)
EXIT_USAGE = 2  # bad input or a broken environment: fix the call or the machine, then rerun
EXIT_TIMEOUT = 124  # `sandbox exec`: the command ran past its timeout (as coreutils `timeout`)
# 130 / 143: interrupted by Ctrl-C / SIGTERM (128 + the signal, cli/app.py)


class PatchloreError(Exception):
    """A problem the user can fix; `hint` says how."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class NotARepoError(PatchloreError):
    pass


class SandboxUnavailable(PatchloreError):
    """The sandbox backend cannot start (engine down, image missing, ...)."""


class SandboxError(PatchloreError):
    """The sandbox broke while in use."""


class ConfigError(PatchloreError):
    pass
