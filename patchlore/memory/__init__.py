"""Verified repair episodes and curated insights, kept in chromadb with a JSONL log."""
