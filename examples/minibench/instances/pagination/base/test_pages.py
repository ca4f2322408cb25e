import pytest

from pages import page_count


def test_page_count():
    assert page_count(10, 3) == 4
    assert page_count(9, 3) == 3
    assert page_count(0, 3) == 0


def test_page_count_rejects_zero():
    with pytest.raises(ValueError):
        page_count(5, 0)
