from roman import from_roman


def test_additive():
    assert from_roman("XVI") == 16


def test_thousands():
    assert from_roman("MMC") == 2100


def test_subtractive():
    assert from_roman("IV") == 4
    assert from_roman("MCMXCIV") == 1994
