from intervals import merge


def test_sorted_overlap():
    assert merge([(1, 3), (2, 5)]) == [(1, 5)]


def test_disjoint():
    assert merge([(1, 2), (4, 5)]) == [(1, 2), (4, 5)]


def test_unsorted_input():
    assert merge([(4, 6), (1, 2), (5, 8)]) == [(1, 2), (4, 8)]
