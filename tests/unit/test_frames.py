import pandas as pd

from connector.warehouse.frames import frame_markdown


def test_frame_markdown_cuts_long_cells_and_escapes_pipes() -> None:
    frame = pd.DataFrame({"number": ["INV-1", "a|b"], "note": ["x" * 60, None]})
    text = frame_markdown(frame, cell_chars=10)
    lines = text.splitlines()
    assert lines[0].split("|")[1].strip() == "number"
    assert "xxxxxxxxx…" in text and "x" * 11 not in text
    assert "a\\|b" in text
    assert len(lines) == 4  # header, rule, two rows


def test_frame_markdown_of_an_empty_frame_says_so() -> None:
    assert frame_markdown(pd.DataFrame({"a": []})) == "_no rows_"
