"""Shopping cart totals."""


def subtotal(lines: list[tuple[float, int]]) -> float:
    return sum(price * qty for price, qty in lines)


def apply_discount(amount: float, percent: float) -> float:
    """`amount` reduced by `percent` per cent, rounded to cents."""
    return round(amount * (1 + percent / 100), 2)


def total(lines: list[tuple[float, int]], percent: float = 0.0) -> float:
    return apply_discount(subtotal(lines), percent)
