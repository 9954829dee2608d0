"""FaultPlan: which emulator calls fail, and how (429, 5xx, slow, dropped, truncated, ...).

SPEC grammar (``FaultPlan.parse``)::

    spec  := rule (";" rule)*              empty rules are ignored
    rule  := ENDPOINT ":" KIND ["@" param ("," param)*]
    param := key "=" value                 lists use "|": calls=1|2|3, ids=100001|100002

``ENDPOINT`` is an fnmatch pattern over ``invoices.export``, ``invoices.mark``,
``credit_notes.export``, ``credit_notes.mark``, ``accounting_entries.export``,
``accounting_entries.mark`` (``*.mark``, ``*``). Every rule takes ``p`` (probability, seeded
RNG), ``calls`` (1-based call numbers of that endpoint) and ``times`` (fire at most N times);
with neither ``p`` nor ``calls`` the rule always fires. Kinds and their own params:

- ``429`` (``retry_after``, seconds, default 1): 429 with a ``Retry-After`` header.
- ``500`` / ``502`` / ``503``: heimdal body ``{"status":"error","message":"An error occurred."}``.
- ``slow`` (``delay``, seconds, default 1): sleep, then answer normally (combines with others).
- ``drop``: handle the call, send the headers and half the body, then close the connection.
- ``truncate``: handle the call, reply 200 with the JSON cut in half (Content-Length matches).
- ``html`` (``status``, default 502): an nginx-style HTML error page, ``text/html``.
- ``wrong_root`` (``root``, default ``data``): handle the call, reply under another root key.
- ``unauthorized``: 401 ``{"status":"error","message":"Unauthenticated."}``.
- ``page_cap`` (``cap``, required): export pages hold at most ``cap`` items, whatever ``limit``.
- ``mark_fail_ids`` (``ids`` or ``fraction``; neither = every id): those mark items get a
  per-item ``temporarily_unavailable`` error and are not marked. ``fraction`` picks ids by a
  seeded hash of the id, so the same ids fail on every call (poison documents).

Example: ``invoices.export:429@p=0.1,retry_after=1;*.mark:500@calls=1|2|3``.
"""

import fnmatch
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENDPOINTS: tuple[str, ...] = tuple(
    f"{resource}.{action}"
    for resource in ("invoices", "credit_notes", "accounting_entries")
    for action in ("export", "mark")
)
# Faults that replace the reply without running the handler.
TERMINAL_BEFORE = frozenset({"429", "500", "502", "503", "html", "unauthorized"})
# Faults that run the handler (a mark is applied) and then spoil the reply.
TERMINAL_AFTER = frozenset({"drop", "truncate", "wrong_root"})
MODIFIERS = frozenset({"slow", "page_cap", "mark_fail_ids"})
KINDS = TERMINAL_BEFORE | TERMINAL_AFTER | MODIFIERS

_COMMON = {"p", "calls", "times"}
_PARAMS: dict[str, set[str]] = {
    "429": {"retry_after"},
    "slow": {"delay"},
    "html": {"status"},
    "wrong_root": {"root"},
    "page_cap": {"cap"},
    "mark_fail_ids": {"ids", "fraction"},
}
_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class FaultRule:
    """One rule: on calls to endpoints matching ``endpoint``, inject ``kind``."""

    endpoint: str
    kind: str
    p: float | None = None
    calls: tuple[int, ...] | None = None
    times: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(KINDS)}")
        if not any(fnmatch.fnmatchcase(e, self.endpoint) for e in ENDPOINTS):
            raise ValueError(
                f"fault endpoint {self.endpoint!r} matches none of {', '.join(ENDPOINTS)}"
            )
        if self.p is not None and not 0.0 <= self.p <= 1.0:
            raise ValueError(f"fault probability p={self.p} is not within [0, 1]")
        if self.calls is not None and any(c < 1 for c in self.calls):
            raise ValueError("fault call numbers are 1-based")
        if self.times is not None and self.times < 1:
            raise ValueError("fault times must be >= 1")
        unknown = set(self.params) - _PARAMS.get(self.kind, set())
        if unknown:
            raise ValueError(f"fault {self.kind!r} takes no parameter(s) {sorted(unknown)}")
        if self.kind == "page_cap" and int(self.params.get("cap", 0)) < 1:
            raise ValueError("page_cap needs cap=N with N >= 1")

    def param(self, name: str, default: float) -> float:
        """Return numeric parameter ``name``, or ``default``."""
        return float(self.params.get(name, default))

    def to_json(self) -> dict[str, Any]:
        """Return this rule as a JSON-able dict (the admin API's shape)."""
        out: dict[str, Any] = {"endpoint": self.endpoint, "kind": self.kind}
        if self.p is not None:
            out["p"] = self.p
        if self.calls is not None:
            out["calls"] = list(self.calls)
        if self.times is not None:
            out["times"] = self.times
        out["params"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FaultRule":
        """Build a rule from its JSON dict; raises ValueError on a bad shape."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a fault rule must be an object, got {type(data).__name__}")
        extra = set(data) - {"endpoint", "kind", "p", "calls", "times", "params"}
        if extra:
            raise ValueError(f"unknown fault rule keys {sorted(extra)}")
        try:
            params = dict(data.get("params") or {})
            if "ids" in params:
                params["ids"] = tuple(int(i) for i in params["ids"])
            calls = data.get("calls")
            return cls(
                endpoint=str(data["endpoint"]),
                kind=str(data["kind"]),
                p=None if data.get("p") is None else float(data["p"]),
                calls=None if calls is None else tuple(int(c) for c in calls),
                times=None if data.get("times") is None else int(data["times"]),
                params=params,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"bad fault rule {dict(data)!r}: {exc}") from exc


def _parse_value(key: str, text: str) -> Any:
    if key in ("calls", "ids"):
        return tuple(int(v) for v in text.split("|") if v.strip())
    if key in ("root",):
        return text
    number = float(text)
    return int(number) if key in ("times", "cap", "status") else number


def _parse_rule(text: str) -> FaultRule:
    head, _, tail = text.partition("@")
    endpoint, sep, kind = head.partition(":")
    if not sep or not endpoint.strip() or not kind.strip():
        raise ValueError(f"fault rule {text!r} is not ENDPOINT:KIND[@k=v,...]")
    values: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in tail.split(","))):
        key, eq, raw = item.partition("=")
        if not eq:
            raise ValueError(f"fault parameter {item!r} in {text!r} is not key=value")
        try:
            values[key.strip()] = _parse_value(key.strip(), raw.strip())
        except ValueError as exc:
            raise ValueError(f"fault parameter {item!r} in {text!r}: {exc}") from exc
    common = {k: values.pop(k) for k in list(values) if k in _COMMON}
    return FaultRule(
        endpoint=endpoint.strip(),
        kind=kind.strip(),
        p=common.get("p"),
        calls=common.get("calls"),
        times=common.get("times"),
        params=values,
    )


@dataclass
class FaultDecision:
    """What to do to one call: at most one terminal fault plus modifiers."""

    delay: float = 0.0
    terminal: FaultRule | None = None
    page_cap: int | None = None
    mark_fail: list[FaultRule] = field(default_factory=list)
    seed: int = 0

    @property
    def kind(self) -> str | None:
        """The terminal fault kind, if any."""
        return None if self.terminal is None else self.terminal.kind

    def mark_fails(self, doc_id: int) -> bool:
        """Whether marking ``doc_id`` must fail with ``temporarily_unavailable``."""
        for rule in self.mark_fail:
            ids = rule.params.get("ids")
            if ids is not None:
                if doc_id in ids:
                    return True
            elif "fraction" in rule.params:
                if _unit(self.seed, doc_id) < float(rule.params["fraction"]):
                    return True
            else:
                return True
        return False


def _unit(seed: int, value: int) -> float:
    x = ((seed * 0x9E3779B97F4A7C15) ^ (value * 0xBF58476D1CE4E5B9)) & _MASK
    x = ((x ^ (x >> 31)) * 0x94D049BB133111EB) & _MASK
    return (x ^ (x >> 29)) / float(1 << 64)


class FaultPlan:
    """An ordered list of fault rules plus the seeded RNG behind their probabilities."""

    def __init__(self, rules: list[FaultRule] | None = None, *, seed: int = 0) -> None:
        self.rules: list[FaultRule] = list(rules or [])
        self.seed = seed
        self._rng = random.Random(seed)
        self._fired: list[int] = [0] * len(self.rules)

    def __repr__(self) -> str:
        return f"FaultPlan({self.to_spec()!r}, seed={self.seed})"

    @classmethod
    def parse(cls, spec: str, *, seed: int = 0) -> "FaultPlan":
        """Parse a SPEC string (module docstring); raises ValueError with the offending part."""
        rules = [_parse_rule(part.strip()) for part in spec.split(";") if part.strip()]
        return cls(rules, seed=seed)

    def to_json(self) -> list[dict[str, Any]]:
        """Return the rules as a JSON-able list (what ``POST /_emulator/faults`` accepts)."""
        return [rule.to_json() for rule in self.rules]

    @classmethod
    def from_json(cls, data: Any, *, seed: int = 0) -> "FaultPlan":
        """Build a plan from a rule list, ``{"rules": [...], "seed": n}`` or ``{"spec": s}``.

        Raises:
            ValueError: the data is not one of those shapes or a rule is invalid.
        """
        if isinstance(data, Mapping):
            seed = int(data.get("seed", seed))
            if "spec" in data:
                return cls.parse(str(data["spec"]), seed=seed)
            data = data.get("rules")
        if not isinstance(data, list):
            raise ValueError("faults must be a list of rules, {'rules': [...]} or {'spec': '...'}")
        return cls([FaultRule.from_json(item) for item in data], seed=seed)

    def to_spec(self) -> str:
        """Return the plan as a SPEC string."""
        parts = []
        for rule in self.rules:
            params: dict[str, Any] = dict(rule.params)
            if rule.p is not None:
                params["p"] = rule.p
            if rule.calls is not None:
                params["calls"] = rule.calls
            if rule.times is not None:
                params["times"] = rule.times
            text = ",".join(
                f"{k}={'|'.join(map(str, v)) if isinstance(v, tuple) else v}"
                for k, v in params.items()
            )
            parts.append(f"{rule.endpoint}:{rule.kind}" + (f"@{text}" if text else ""))
        return ";".join(parts)

    def decide(self, endpoint: str, call_no: int) -> FaultDecision:
        """Decide the faults for call number ``call_no`` (1-based) of ``endpoint``."""
        decision = FaultDecision(seed=self.seed)
        for i, rule in enumerate(self.rules):
            if not fnmatch.fnmatchcase(endpoint, rule.endpoint):
                continue
            if rule.times is not None and self._fired[i] >= rule.times:
                continue
            if rule.calls is not None and call_no not in rule.calls:
                continue
            if rule.p is not None and self._rng.random() >= rule.p:
                continue
            if rule.kind in MODIFIERS:
                self._fired[i] += 1
                if rule.kind == "slow":
                    decision.delay += rule.param("delay", 1.0)
                elif rule.kind == "page_cap":
                    cap = int(rule.param("cap", 0))
                    decision.page_cap = min(cap, decision.page_cap or cap)
                else:
                    decision.mark_fail.append(rule)
            elif decision.terminal is None:
                self._fired[i] += 1
                decision.terminal = rule
        return decision
