import pytest

from fetch import TransientError, with_retries


def flaky(failures, exc=TransientError):
    calls = {"n": 0}

    def fn():
        calls["n"] += 1
        if calls["n"] <= failures:
            raise exc("boom")
        return "ok"

    return fn, calls


def test_succeeds_after_transient_errors():
    fn, calls = flaky(2)
    assert with_retries(fn) == "ok" and calls["n"] == 3


def test_gives_up_after_attempts():
    fn, _ = flaky(5)
    with pytest.raises(TransientError):
        with_retries(fn, attempts=3)


def test_other_errors_are_not_retried():
    fn, calls = flaky(1, exc=KeyError)
    with pytest.raises(KeyError):
        with_retries(fn)
    assert calls["n"] == 1
