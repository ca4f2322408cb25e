from roman import from_roman


def test_additive():
    assert from_roman("XVI") == 16


def test_thousands():
    assert from_roman("MMC") == 2100
