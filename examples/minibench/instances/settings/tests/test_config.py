from config import DEFAULTS, load


def test_defaults():
    assert load() == DEFAULTS


def test_override():
    assert load({"timeout": 5})["timeout"] == 5


def test_calls_do_not_leak_into_each_other():
    load({"colour": "red"})
    assert "colour" not in load()


def test_base_is_not_modified():
    base = {"timeout": 10}
    load(base=base)
    assert base == {"timeout": 10}
