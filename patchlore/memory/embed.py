"""Embedders. The default needs no download (these machines and many CI runners are offline):
feature hashing of words and character trigrams into 384 dimensions. It is registered with
chromadb so a reopened store can embed queries. A real model is an option: a local
sentence-transformers path, or an embeddings endpoint through litellm (vLLM serves one)."""

from __future__ import annotations

import hashlib
import math
import re

DIM = 384
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")


def _split_identifier(token: str) -> list[str]:
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", token)
    return [p.lower() for p in parts] or [token.lower()]


def hash_embed(text: str, dim: int = DIM) -> list[float]:
    vec = [0.0] * dim
    for token in WORD.findall(text):
        feats = [token.lower(), *_split_identifier(token)]
        low = f"#{token.lower()}#"
        feats += [low[i:i + 3] for i in range(len(low) - 2)]
        for j, f in enumerate(feats):
            h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "little")
            weight = 1.0 if j < 2 else 0.3  # whole words weigh more than their trigrams
            vec[h % dim] += weight if (h >> 32) & 1 else -weight
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def make_embedder(spec: str = "hash"):
    """`hash` (default), `st:/path/to/sentence-transformers-model`, or `litellm:MODEL[@BASE]`."""
    if spec == "hash":
        return HashEmbedding()
    if spec.startswith("st:"):
        return SentenceTransformerEmbedding(spec[3:])
    if spec.startswith("litellm:"):
        model, _, base = spec[8:].partition("@")
        return LitellmEmbedding(model, base)
    from patchlore.errors import ConfigError

    raise ConfigError(f"unknown embedder {spec!r}", hint="hash, st:PATH or litellm:MODEL[@URL]")


class _Base:
    """chromadb's EmbeddingFunction protocol, without importing chromadb at module import."""

    def __call__(self, input):  # noqa: A002 (chromadb's parameter name)
        return self.embed(list(input))

    def embed_query(self, input):  # noqa: A002
        return self.embed(list(input))

    @staticmethod
    def default_space() -> str:
        return "cosine"

    @staticmethod
    def supported_spaces() -> list[str]:
        return ["cosine"]

    def is_legacy(self) -> bool:
        return False

    def validate_config_update(self, old, new) -> None:
        pass

    @staticmethod
    def validate_config(config) -> None:
        pass


class HashEmbedding(_Base):
    def embed(self, texts: list[str]) -> list[list[float]]:
        return [hash_embed(t) for t in texts]

    @staticmethod
    def name() -> str:
        return "patchlore-hash"

    def get_config(self) -> dict:
        return {"dim": DIM}

    @staticmethod
    def build_from_config(config: dict) -> HashEmbedding:
        return HashEmbedding()


class SentenceTransformerEmbedding(_Base):
    def __init__(self, path: str) -> None:
        from sentence_transformers import SentenceTransformer

        self.path = path
        self.model = SentenceTransformer(path)

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [v.tolist() for v in self.model.encode(texts, normalize_embeddings=True)]

    @staticmethod
    def name() -> str:
        return "patchlore-st"

    def get_config(self) -> dict:
        return {"path": self.path}

    @staticmethod
    def build_from_config(config: dict) -> SentenceTransformerEmbedding:
        return SentenceTransformerEmbedding(config["path"])


class LitellmEmbedding(_Base):
    def __init__(self, model: str, api_base: str = "") -> None:
        self.model, self.api_base = model, api_base

    def embed(self, texts: list[str]) -> list[list[float]]:
        from patchlore.llm.litellm_import import import_litellm

        litellm = import_litellm()
        kwargs = {"api_base": self.api_base} if self.api_base else {}
        resp = litellm.embedding(model=self.model, input=texts, **kwargs)
        return [d["embedding"] for d in resp.data]

    @staticmethod
    def name() -> str:
        return "patchlore-litellm"

    def get_config(self) -> dict:
        return {"model": self.model, "api_base": self.api_base}

    @staticmethod
    def build_from_config(config: dict) -> LitellmEmbedding:
        return LitellmEmbedding(config["model"], config.get("api_base", ""))


def register_all() -> None:
    """Tell chromadb about our embedders, so collections created with them reopen."""
    from chromadb.utils.embedding_functions import register_embedding_function

    for cls in (HashEmbedding, SentenceTransformerEmbedding, LitellmEmbedding):
        try:
            register_embedding_function(cls)
        except ValueError:
            pass  # already registered in this process
