from nested import flatten


def test_flat_list():
    assert flatten([1, 2, 3]) == [1, 2, 3]


def test_one_level():
    assert flatten([1, [2, 3]]) == [1, 2, 3]
