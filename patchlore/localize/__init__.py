"""Localization: which files and functions of a repository an issue is about."""
