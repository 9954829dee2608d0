"""Benchmark workloads: document counts per TRAEDE resource, deterministic by seed."""

from dataclasses import dataclass, replace

from connector.emulator.traede_data import document_is_draft

RESOURCES = ("invoices", "credit_notes", "accounting_entries")


@dataclass(frozen=True)
class Workload:
    """How many documents the emulator serves (drafts included; they are not exported)."""

    name: str
    invoices: int
    credit_notes: int
    accounting_entries: int
    seed: int = 42
    # L measures memory only: the peers are skipped unless asked for explicitly.
    memory_only: bool = False

    def counts(self) -> dict[str, int]:
        return {
            "invoices": self.invoices,
            "credit_notes": self.credit_notes,
            "accounting_entries": self.accounting_entries,
        }

    def exported(self) -> dict[str, int]:
        """Documents one export pass returns per resource (drafts are not exported)."""
        out = {}
        for resource, n in self.counts().items():
            out[resource] = sum(
                1 for i in range(n) if not document_is_draft(resource, self.seed, i)
            )
        return out

    def scaled(self, name: str, factor: float) -> "Workload":
        return replace(
            self,
            name=name,
            invoices=max(1, round(self.invoices * factor)),
            credit_notes=max(1, round(self.credit_notes * factor)),
            accounting_entries=max(1, round(self.accounting_entries * factor)),
        )


S = Workload("S", 10_000, 2_000, 20_000)
M = Workload("M", 100_000, 20_000, 200_000)
L = Workload("L", 1_000_000, 0, 0, memory_only=True)  # 1M invoices: memory only
SMOKE = S.scaled("smoke", 0.01)

WORKLOADS: dict[str, Workload] = {w.name: w for w in (SMOKE, S, M, L)}
