"""Proposers: where candidate fixes come from (the pipeline, the explorer) and their prompts."""
