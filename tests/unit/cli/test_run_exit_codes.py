"""``hangar run``'s exit status for a query cell that raised, as Python's own would be."""

from __future__ import annotations

import pytest

from hangar.cli.run import cell_exit_code


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("ZeroDivisionError: division by zero", 1),
        ("ModuleNotFoundError: No module named 'x'", 1),
        ("SystemExit: 3", 3),
        ("SystemExit: ", 0),
        ("SystemExit: None", 0),
        ("SystemExit: 0", 0),
        ("SystemExit: bye", 1),  # sys.exit("bye") prints it and exits 1
        ("KeyboardInterrupt: ", 1),
    ],
)
def test_cell_exit_code(error: str, code: int) -> None:
    assert cell_exit_code(error) == code
