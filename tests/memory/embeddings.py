"""A deterministic stand-in for an embedding model: a text becomes the counts of its
characters, folded into DIMS buckets. Similar spellings give similar vectors, which is all the
ranking tests need, and non-ASCII text embeds like any other."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.embeddings import Embeddings

DIMS = 32


def character_counts(text: str) -> list[float]:
    vector = [0.0] * DIMS
    for character in text.lower():
        if not character.isspace():
            vector[ord(character) % DIMS] += 1.0
    return vector


def embed(texts: Sequence[str]) -> list[list[float]]:
    return [character_counts(text) for text in texts]


async def aembed(texts: Sequence[str]) -> list[list[float]]:
    return embed(texts)


class CountingEmbed:
    """``embed`` that remembers every text it was asked to embed."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return embed(texts)


def wrong_width(texts: Sequence[str]) -> list[list[float]]:
    return [[1.0, 2.0] for _ in texts]


class CharacterCountEmbeddings(Embeddings):
    """The same model behind LangChain's Embeddings interface."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return embed(texts)

    def embed_query(self, text: str) -> list[float]:
        return character_counts(text)


letters = CharacterCountEmbeddings()
