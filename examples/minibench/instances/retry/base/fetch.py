"""Call a flaky function with retries."""


class TransientError(Exception):
    pass


def with_retries(fn, attempts: int = 3):
    """Call `fn` until it succeeds; retry only on TransientError, at most `attempts` times."""
    last = None
    for _ in range(attempts):
        try:
            return fn()
        except Exception as exc:
            last = exc
    raise last
