from config import DEFAULTS, load


def test_defaults():
    assert load() == DEFAULTS


def test_override():
    assert load({"timeout": 5})["timeout"] == 5

