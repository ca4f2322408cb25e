from cart import apply_discount, subtotal, total


def test_subtotal():
    assert subtotal([(2.5, 2), (1.0, 3)]) == 8.0


def test_no_discount():
    assert total([(10.0, 1)]) == 10.0
