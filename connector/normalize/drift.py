"""Schema drift: which source keys of a batch no staging column maps. Pure: no I/O, no clock.

Unknown keys never fail a load (they stay in ``_raw``); counting them is how users learn that a
source started sending a field without reading ``_raw``. Keys are counted per record that
carries them: ``Foo`` at the top level, ``Lines[].Foo`` inside the line collection ``Lines``.
The cost is one set difference of ``record.keys()`` against a frozenset per record, and one
of the union of its lines' keys; lines are looked at one by one only when that finds a key.
"""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from connector.jsontext import DUPLICATE


@dataclass(frozen=True)
class MappedKeys:
    """The source keys a normalizer maps: at the top level and in its line collection."""

    header: frozenset[Any]
    lines_field: str | None = None
    lines: frozenset[Any] = frozenset()

    @classmethod
    def of(
        cls, header: Iterable[str], lines_field: str | None = None, lines: Iterable[str] = ()
    ) -> "MappedKeys":
        """Build from plain key names (the line collection's own key counts as mapped)."""
        top = {*header, DUPLICATE}
        if lines_field is not None:
            top.add(lines_field)
        return cls(frozenset(top), lines_field, frozenset({*lines, DUPLICATE}))

    def unmapped(self, records: Sequence[Any]) -> dict[str, int]:
        """Unmapped key name -> how many records (or lines) of ``records`` carry it."""
        counts: Counter[str] = Counter()
        header, lines_field, line_keys = self.header, self.lines_field, self.lines
        prefix = f"{lines_field}[]."
        for record in records:
            if not isinstance(record, dict):
                continue
            extra = record.keys() - header
            if extra:
                counts.update(str(k) for k in extra)
            if lines_field is None:
                continue
            lines = record.get(lines_field)
            if type(lines) is not list or not lines:
                continue
            try:  # one C-level union of every line's keys: nothing unmapped in most records
                if not set().union(*lines) - line_keys:
                    continue
            except TypeError:
                pass  # a line that is not an object: counted (or skipped) one by one below
            for line in lines:
                if isinstance(line, dict):
                    extra = line.keys() - line_keys
                    if extra:
                        counts.update(prefix + str(k) for k in extra)
        return dict(counts)
