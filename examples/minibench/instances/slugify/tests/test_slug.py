from slug import slugify


def test_simple():
    assert slugify("hello") == "hello"


def test_two_words():
    assert slugify("Hello World") == "hello-world"


def test_punctuation_is_dropped():
    assert slugify("Hello, World!") == "hello-world"


def test_runs_of_spaces():
    assert slugify("  a   b ") == "a-b"
