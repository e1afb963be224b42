"""Sweep points: grids from the command line, random subsets with a seed."""

from __future__ import annotations

import pytest

from mlops_nb.exceptions import UsageError
from mlops_nb.pipelines.sweep import parse_grid, points


def test_a_grid_is_every_combination_in_order() -> None:
    grid = parse_grid(["lr=0.01,0.1", "depth=3,5"])
    assert points(grid) == [
        {"lr": "0.01", "depth": "3"},
        {"lr": "0.01", "depth": "5"},
        {"lr": "0.1", "depth": "3"},
        {"lr": "0.1", "depth": "5"},
    ]


def test_random_points_are_distinct_and_repeatable_with_a_seed() -> None:
    grid = parse_grid(["a=1,2,3,4", "b=x,y,z"])
    first = points(grid, sample=5, seed=7)
    assert len(first) == 5
    assert len({tuple(p.items()) for p in first}) == 5
    assert points(grid, sample=5, seed=7) == first
    assert len(points(grid, sample=50, seed=1)) == 12  # never more than the grid holds


@pytest.mark.parametrize("items", [["lr"], ["lr="], []])
def test_bad_grids_are_usage_errors(items: list[str]) -> None:
    with pytest.raises(UsageError):
        parse_grid(items)
