"""Stage plumbing: grouping outcomes so what was done before a failure is still recorded."""

import pytest

from connector.flows.stages import grouped, prefetch


def test_grouped_hands_on_what_came_before_a_failure() -> None:
    def items():
        yield from range(7)
        raise RuntimeError("credentials refused")

    got = []
    with pytest.raises(RuntimeError):
        for group in prefetch(grouped(items(), 3)):
            got.append(group)
    assert got == [[0, 1, 2], [3, 4, 5], [6]]


def test_grouped_last_group_is_shorter() -> None:
    assert list(grouped(iter(range(5)), 2)) == [[0, 1], [2, 3], [4]]
