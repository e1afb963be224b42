"""How a reproduction compares what it finds with the record: a table's change, the installed packages."""

from __future__ import annotations

import pandas as pd

from mlops_nb.pipelines.data_change import compare
from mlops_nb.pipelines.reproduce import environment_changes


def test_compare_counts_changed_added_and_removed_rows_and_columns_whatever_the_order() -> None:
    before = pd.DataFrame({"a": [1, 2, 3, 4], "b": ["w", "x", "y", "z"], "c": [0.5, 1.5, 2.5, 3.5]})
    now = before.iloc[::-1].reset_index(drop=True).copy()  # the same rows in another order
    assert compare(before, now).none

    now.loc[now.a == 2, "c"] = 9.0  # one value changed
    now = now[now.a != 4]  # one row removed
    now = pd.concat([now, pd.DataFrame({"a": [7], "b": ["q"], "c": [7.0]})])  # one row added
    now["d"] = 1  # a column added

    change = compare(before, now)

    assert (change.changed, change.added, change.removed) == (1, 1, 1)
    assert change.columns_added == ["d"] and change.columns_removed == []
    assert change.examples == [{"column": "c", "before": 1.5, "now": 9.0}]
    assert change.describe().startswith("4 rows then, 4 now: 1 row added; 1 row removed; 1 row changed")


def test_a_column_retyped_by_one_value_counts_as_one_changed_row() -> None:
    before = pd.DataFrame({"a": [1, 2, 3], "b": [10, 20, 30]})
    now = pd.DataFrame({"a": [1, 2, 3], "b": [10, 20.5, 30]})

    change = compare(before, now)

    assert (change.changed, change.added, change.removed) == (1, 0, 0)
    assert change.columns_retyped == {"b": ["int64", "float64"]}


def test_environment_changes_lists_changed_new_and_gone_packages() -> None:
    recorded = "numpy==2.0.0\nPandas==2.2.0\nscikit_learn==1.5.0\n"
    current = "numpy==2.0.0\npandas==2.3.0\nscikit-learn==1.5.0\nxxhash==3.0\n"

    assert environment_changes(recorded, current) == [
        {"package": "pandas", "recorded": "2.2.0", "current": "2.3.0"},
        {"package": "xxhash", "recorded": None, "current": "3.0"},
    ]


def test_a_tolerance_that_is_not_a_number_is_refused_before_anything_runs(project) -> None:
    import pytest

    from mlops_nb import cli
    from mlops_nb.exceptions import UsageError
    from mlops_nb.pipelines.reproduce import ReproduceOptions, reproduce

    with pytest.raises(UsageError, match="tolerance must be 0 or more, not nan"):
        reproduce("any-model", 1, options=ReproduceOptions(tolerance=float("nan")))
    assert cli.main(["reproduce", "any-model", "--version", "1", "--tolerance", "nan"]) == 2
