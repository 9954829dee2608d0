"""Benchmark bookkeeping that decides what may be published (no runs, no timings)."""

from bench.provenance import publish_problems
from bench.xero_bench import minimum_calls


def test_xero_minimum_calls_count_the_page_count_stop() -> None:
    assert minimum_calls(5000) == 5  # the 5th page is page pageCount: no empty probe
    assert minimum_calls(5001) == 6
    assert minimum_calls(0) == 1
    assert minimum_calls(5000, page_count=False) == 6  # a full last page needs one more


def test_report_refuses_mixed_commits_and_dirty_trees() -> None:
    clean = {"git": {"commit": "a" * 40, "dirty": False}}
    assert publish_problems({"S": clean, "M": clean}) == []
    other = {"git": {"commit": "b" * 40, "dirty": False}}
    assert any("more than one commit" in p for p in publish_problems({"S": clean, "M": other}))
    unknown = {"kind": "run"}  # an older result without provenance
    assert publish_problems({"S": clean, "L": unknown})
    dirty = {"git": {"commit": "a" * 40, "dirty": True}}
    assert any("dirty" in p for p in publish_problems({"S": clean, "M": dirty}))
    assert publish_problems({"S": clean, "M": dirty}, allow_dirty=True) == []
