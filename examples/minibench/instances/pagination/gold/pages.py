"""Split a list of items into pages."""


def page_count(total: int, per_page: int) -> int:
    if per_page <= 0:
        raise ValueError("per_page must be positive")
    return (total + per_page - 1) // per_page


def get_page(items: list, page: int, per_page: int) -> list:
    """Items on `page` (1-based)."""
    start = (page - 1) * per_page
    return items[start:start + per_page]
