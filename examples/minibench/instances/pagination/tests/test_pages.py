import pytest

from pages import get_page, page_count


def test_page_count():
    assert page_count(10, 3) == 4
    assert page_count(9, 3) == 3
    assert page_count(0, 3) == 0


def test_page_count_rejects_zero():
    with pytest.raises(ValueError):
        page_count(5, 0)


def test_first_page():
    assert get_page(list(range(10)), 1, 3) == [0, 1, 2]


def test_last_page_is_partial():
    assert get_page(list(range(10)), 4, 3) == [9]
