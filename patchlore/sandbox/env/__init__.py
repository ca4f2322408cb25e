"""Environments: images, and deriving and setting up a repository's Python environment."""
