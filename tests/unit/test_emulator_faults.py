"""FaultPlan: SPEC parsing, JSON round trip and decisions (no sockets)."""

import pytest

from connector.emulator.faults import FaultPlan, FaultRule


def test_faultplan_parses_the_spec_grammar() -> None:
    plan = FaultPlan.parse(
        "invoices.export:429@p=0.1,retry_after=2; *.mark:500@calls=1|2|3 ;"
        "credit_notes.export:page_cap@cap=20;invoices.mark:mark_fail_ids@ids=7|8;"
    )
    assert [r.kind for r in plan.rules] == ["429", "500", "page_cap", "mark_fail_ids"]
    assert plan.rules[0].p == 0.1 and plan.rules[0].params == {"retry_after": 2.0}
    assert plan.rules[1].endpoint == "*.mark" and plan.rules[1].calls == (1, 2, 3)
    assert plan.rules[2].params == {"cap": 20}
    assert plan.rules[3].params == {"ids": (7, 8)}


@pytest.mark.parametrize(
    "spec",
    [
        "invoices.export",  # no kind
        "invoices.export:teapot",  # unknown kind
        "orders.export:500",  # matches no endpoint
        "invoices.export:500@p=2",  # probability out of range
        "invoices.export:500@calls=0",  # call numbers are 1-based
        "invoices.export:500@delay=1",  # param of another kind
        "invoices.export:slow@delay",  # not key=value
        "invoices.export:slow@delay=soon",  # not a number
        "credit_notes.export:page_cap",  # cap required
    ],
)
def test_faultplan_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        FaultPlan.parse(spec)


def test_faultplan_json_and_spec_round_trip() -> None:
    plan = FaultPlan.parse(
        "*.export:slow@delay=0.5,times=2;invoices.mark:mark_fail_ids@fraction=0.3"
    )
    again = FaultPlan.from_json(plan.to_json())
    assert again.to_json() == plan.to_json()
    assert FaultPlan.parse(plan.to_spec()).to_json() == plan.to_json()
    assert FaultPlan.from_json({"spec": plan.to_spec(), "seed": 4}).seed == 4
    with pytest.raises(ValueError):
        FaultPlan.from_json({"rules": [{"endpoint": "*", "kind": "500", "colour": "red"}]})
    with pytest.raises(ValueError):
        FaultPlan.from_json("500")


def test_faultplan_decides_by_call_number_endpoint_and_times() -> None:
    plan = FaultPlan.parse("*.mark:503@calls=2|3;invoices.export:429@times=1")
    assert [plan.decide("credit_notes.mark", n).kind for n in (1, 2, 3, 4)] == [
        None,
        "503",
        "503",
        None,
    ]
    assert plan.decide("invoices.export", 1).kind == "429"
    assert plan.decide("invoices.export", 2).kind is None
    assert plan.decide("credit_notes.export", 1).kind is None


def test_faultplan_probability_is_seeded() -> None:
    def run(seed: int) -> list[str | None]:
        plan = FaultPlan.parse("*:500@p=0.3", seed=seed)
        return [plan.decide("invoices.export", n).kind for n in range(1, 201)]

    assert run(1) == run(1)
    assert run(1) != run(2)
    assert 30 < run(1).count("500") < 90


def test_faultplan_combines_modifiers_with_one_terminal_fault() -> None:
    plan = FaultPlan.parse(
        "invoices.export:slow@delay=0.2;*.export:slow@delay=0.1;invoices.export:page_cap@cap=9;"
        "invoices.export:truncate;invoices.export:500"
    )
    decision = plan.decide("invoices.export", 1)
    assert decision.delay == pytest.approx(0.3)
    assert decision.page_cap == 9
    assert decision.kind == "truncate"


def test_faultplan_mark_fail_ids_by_ids_fraction_and_all() -> None:
    by_ids = FaultPlan.parse("invoices.mark:mark_fail_ids@ids=5|6").decide("invoices.mark", 1)
    assert [by_ids.mark_fails(i) for i in (4, 5, 6)] == [False, True, True]
    fraction = FaultPlan.parse("*.mark:mark_fail_ids@fraction=0.25", seed=9)
    first = fraction.decide("invoices.mark", 1)
    later = fraction.decide("invoices.mark", 7)
    failing = [i for i in range(1000) if first.mark_fails(i)]
    assert failing == [i for i in range(1000) if later.mark_fails(i)]  # same ids every call
    assert 150 < len(failing) < 350
    everything = FaultPlan.parse("*.mark:mark_fail_ids").decide("accounting_entries.mark", 1)
    assert everything.mark_fails(123)
    assert not FaultPlan().decide("invoices.mark", 1).mark_fails(123)


def test_faultrule_validates_when_built_directly() -> None:
    with pytest.raises(ValueError):
        FaultRule(endpoint="invoices.export", kind="slow", params={"cap": 1})
    assert FaultRule(endpoint="*", kind="drop").to_json() == {
        "endpoint": "*",
        "kind": "drop",
        "params": {},
    }
