from users import display_name, initials


def test_nickname_wins():
    assert display_name({"nickname": "ace", "first": "Ada"}) == "ace"


def test_full_name():
    assert display_name({"first": "Ada", "last": "Lovelace"}) == "Ada Lovelace"


def test_email_fallback():
    assert display_name({"email": "grace@navy.mil"}) == "grace"


def test_anonymous_user():
    assert display_name({}) == "anonymous"


def test_initials():
    assert initials({"first": "Ada", "last": "Lovelace"}) == "AL"
