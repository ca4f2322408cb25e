def chunked(items: list, size: int) -> list[list]:
    """`items` in consecutive lists of `size`; the last may be shorter."""
    return [items[i:i + size] for i in range(0, len(items), size)]
