"""The `patchlore` command line: one module per command group."""
