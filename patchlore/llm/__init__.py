"""The model client: litellm over HTTP, and replay of a recorded run."""
