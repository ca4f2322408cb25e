"""Display names for user records."""


def display_name(user: dict) -> str:
    """The nickname if set, else "First Last", else the e-mail's local part."""
    if user.get("nickname"):
        return user["nickname"]
    first, last = user.get("first"), user.get("last")
    if first or last:
        return " ".join(part for part in (first, last) if part)
    email = user.get("email")
    if not email:
        return "anonymous"
    return email.split("@")[0]


def initials(user: dict) -> str:
    return "".join(word[0].upper() for word in display_name(user).split())
