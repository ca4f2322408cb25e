import re


def slugify(title: str) -> str:
    """Lowercase words joined by single hyphens: "Hello, World!" -> "hello-world"."""
    words = re.split(r"[^A-Za-z0-9]+", title.lower())
    return "-".join(w for w in words if w)
