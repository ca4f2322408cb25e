"""SWE-bench-format datasets, batch runs, grading and reports."""
