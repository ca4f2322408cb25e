VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def from_roman(numeral: str) -> int:
    total = 0
    for ch, nxt in zip(numeral, numeral[1:] + " "):
        value = VALUES[ch]
        total += -value if nxt != " " and VALUES[nxt] > value else value
    return total
