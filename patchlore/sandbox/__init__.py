"""Where untrusted candidate patches and their tests run: Docker, or a local fallback."""
