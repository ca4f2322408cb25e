"""The bundled example projects fail exactly where examples/README.md says they do."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchlore.sandbox.factory import open_sandbox
from patchlore.sandbox.testrun import run_tests

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FAILING = {
    "pagination": ["test_pages.py::test_first_page", "test_pages.py::test_last_page_is_partial"],
    "pricing": ["test_cart.py::test_discount_reduces_price", "test_cart.py::test_total_with_discount"],
    "profiles": ["test_users.py::test_anonymous_user"],
    "settings": ["test_config.py::test_base_is_not_modified",
                 "test_config.py::test_calls_do_not_leak_into_each_other"],
    "retry": ["test_fetch.py::test_other_errors_are_not_retried"],
}


@pytest.mark.parametrize("name", sorted(FAILING))
def test_example_fails_as_documented(name, settings):
    settings.sandbox = "local"
    with open_sandbox(settings, str(EXAMPLES / name)) as box:
        run = run_tests(box, "python3 -m pytest -q -p no:cacheprovider")
    assert run.kind == "junit"
    assert run.ids("failed", "error") == FAILING[name]
    assert run.ids("passed"), "each example also has passing tests to keep passing"
    readme = (EXAMPLES / "README.md").read_text()
    assert all(f"`{t}`" in readme for t in FAILING[name])
