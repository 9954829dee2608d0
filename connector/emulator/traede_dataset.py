"""Lazy datasets of generated TRAEDE documents: nothing is materialised up front.

A dataset of a million invoices costs a few integers; documents are built on access.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from connector.emulator.traede_data import (
    FIRST_IDS,
    RESOURCES,
    DocMeta,
    document_meta,
    generate_document,
)


class GeneratedDocuments(Sequence[dict[str, Any]]):
    """A lazy, read-only sequence of generated documents of one resource."""

    def __init__(self, resource: str, seed: int, count: int) -> None:
        if resource not in RESOURCES:
            raise ValueError(f"unknown TRAEDE resource {resource!r}")
        if count < 0:
            raise ValueError("count must be >= 0")
        self.resource = resource
        self.seed = seed
        self.size = count
        self.first_id = FIRST_IDS[resource]

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.size))]
        if index < 0:
            index += self.size
        if not 0 <= index < self.size:
            raise IndexError(index)
        return generate_document(self.resource, self.seed, index)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(self.size):
            yield generate_document(self.resource, self.seed, i)

    def index_of(self, doc_id: int) -> int | None:
        """Return the index of ``doc_id`` in this sequence, or None if it is not generated here."""
        index = doc_id - self.first_id
        return index if 0 <= index < self.size else None

    def meta(self, index: int) -> DocMeta:
        """Return status and timestamps of document ``index`` without building it."""
        return document_meta(self.resource, self.seed, index)


@dataclass(frozen=True)
class TraedeDataset:
    """The three generated resources of one seed."""

    seed: int
    invoices: GeneratedDocuments
    credit_notes: GeneratedDocuments
    accounting_entries: GeneratedDocuments

    def resource(self, name: str) -> GeneratedDocuments:
        """Return the sequence for resource ``name`` (``invoices``, ``credit_notes``, ...)."""
        if name not in RESOURCES:
            raise ValueError(f"unknown TRAEDE resource {name!r}")
        docs: GeneratedDocuments = getattr(self, name)
        return docs


def generate(
    seed: int, *, invoices: int = 0, credit_notes: int = 0, accounting_entries: int = 0
) -> TraedeDataset:
    """Return a lazy dataset: documents are built on access, deterministically from ``seed``.

    Ids ascend from 100001 (invoices), 500001 (credit notes) and 900001 (accounting entries).
    """
    return TraedeDataset(
        seed=seed,
        invoices=GeneratedDocuments("invoices", seed, invoices),
        credit_notes=GeneratedDocuments("credit_notes", seed, credit_notes),
        accounting_entries=GeneratedDocuments("accounting_entries", seed, accounting_entries),
    )
