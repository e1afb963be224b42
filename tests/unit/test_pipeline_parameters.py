"""The parameter contract: parsing the parameters cell and typed conversion of -p values."""

from __future__ import annotations

import pytest

from mlops_nb.exceptions import UsageError
from mlops_nb.pipelines.parameters import parse_cell, parse_pairs

CELL = """
lr: float = 0.1
epochs = 10
name: str = "run"
mode: Literal["fast", "slow"] = "fast"
limit: Optional[int] = None
layers: list[int] = [32, 16]
debug: bool = False
seed: int | None = None
data_path: str
"""


def test_types_come_from_annotations_or_literals() -> None:
    contract, problems = parse_cell(CELL, cell=2)
    assert problems == []
    types = {name: p.type.describe() for name, p in contract.parameters.items()}
    assert types == {
        "lr": "float",
        "epochs": "int",
        "name": "str",
        "mode": "Literal['fast', 'slow']",
        "limit": "int | None",
        "layers": "list",
        "debug": "bool",
        "seed": "int | None",
        "data_path": "str",
    }
    assert contract.parameters["data_path"].required
    assert not contract.parameters["limit"].required


def test_command_line_strings_are_converted_to_the_declared_types() -> None:
    contract, _ = parse_cell(CELL)
    values = contract.resolve(
        {
            "lr": "0.5",
            "epochs": "3",
            "mode": "slow",
            "limit": "None",
            "layers": "[8]",
            "debug": "true",
            "data_path": "x.csv",
        }
    )
    assert values == {
        "lr": 0.5,
        "epochs": 3,
        "mode": "slow",
        "limit": None,
        "layers": [8],
        "debug": True,
        "data_path": "x.csv",
    }


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"epochs": "3.5", "data_path": "x"}, "expected int"),
        ({"mode": "medium", "data_path": "x"}, "not one of ['fast', 'slow']"),
        ({"debug": "maybe", "data_path": "x"}, "expected bool"),
        ({"lr": "None", "data_path": "x"}, "None is not allowed"),
        ({"depth": "3", "data_path": "x"}, "Unknown parameter(s) depth"),
        ({}, "Missing required parameter(s): data_path"),
    ],
)
def test_bad_values_are_rejected_with_the_expected_type(given: dict[str, str], message: str) -> None:
    contract, _ = parse_cell(CELL)
    with pytest.raises(UsageError, match=None) as caught:
        contract.resolve(given)
    assert message in str(caught.value)


def test_non_literal_assignments_are_problems_with_their_line() -> None:
    _, problems = parse_cell("a = 1\nimport os\nb = os.getcwd()\nc: Widget = 3\n", cell=4)
    assert [(p.cell, p.line) for p in problems] == [(4, 2), (4, 3), (4, 4)]
    assert "non-literal" in problems[1].message
    assert "unsupported annotation" in problems[2].message


def test_pairs_need_an_equals_sign() -> None:
    assert parse_pairs(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(UsageError, match="name=value"):
        parse_pairs(["oops"])


def test_the_typing_import_the_annotations_need_may_stay_in_the_cell() -> None:
    cell = 'from typing import Literal, Optional\nimport typing\nmode: Literal["a", "b"] = "a"\nk: Optional[int] = None\n'
    contract, problems = parse_cell(cell, cell=1)
    assert problems == []
    assert list(contract.parameters) == ["mode", "k"]
    _, problems = parse_cell("from os import path\nimport typing, os\na = 1\n", cell=1)
    assert [p.line for p in problems] == [1, 2]
