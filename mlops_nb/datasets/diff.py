"""What changed between two tables, or two versions of a dataset: rows, columns and drift.

Rows are matched by the key columns when given: a key only in the new table is added, only in the old one
removed, in both with other values changed. Without a key, rows are compared as whole-row hashes (a changed
row counts as one removed and one added). Values are compared on the columns both tables have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_nb.exceptions import UsageError

if TYPE_CHECKING:
    import pandas as pd

    from mlops_nb.datasets.repository import DatasetVersion

EXAMPLES = 10  # keys (or rows) listed per kind of change


def _row_hashes(frame: pd.DataFrame) -> pd.Series:
    import pandas as pd

    if frame.shape[1] == 0:
        return pd.Series(0, index=frame.index, dtype="uint64")
    try:
        return pd.util.hash_pandas_object(frame, index=False)
    except TypeError:  # unhashable cells (lists, dicts): hash their text
        return pd.util.hash_pandas_object(frame.astype(str), index=False)


def _columns(old: pd.DataFrame, new: pd.DataFrame) -> dict[str, Any]:
    before = {str(c): str(t) for c, t in old.dtypes.items()}
    after = {str(c): str(t) for c, t in new.dtypes.items()}
    return {
        "added": [c for c in after if c not in before],
        "removed": [c for c in before if c not in after],
        "retyped": {c: [before[c], after[c]] for c in before if c in after and before[c] != after[c]},
    }


def _records(frame: pd.DataFrame) -> list[Any]:
    import json

    return json.loads(frame.head(EXAMPLES).to_json(orient="records", date_format="iso"))


def _keyed(old: pd.DataFrame, new: pd.DataFrame, key: list[str], common: list[str]) -> dict[str, Any]:
    for side, frame in (("old", old), ("new", new)):
        missing = [k for k in key if k not in frame.columns]
        if missing:
            raise UsageError(
                f"Key column(s) {missing} are not in the {side} data.", hint="Diff by other columns."
            )
        if frame.duplicated(subset=key).any():
            raise UsageError(f"Key {key} repeats in the {side} data.", hint="Name more key columns.")
    values = [c for c in common if c not in key]
    left = old[key].assign(_hash=_row_hashes(old[values]).to_numpy())
    right = new[key].assign(_hash=_row_hashes(new[values]).to_numpy())
    merged = left.merge(right, on=key, how="outer", indicator=True, suffixes=("_old", "_new"))
    added = merged[merged["_merge"] == "right_only"]
    removed = merged[merged["_merge"] == "left_only"]
    both = merged[merged["_merge"] == "both"]
    changed = both[both["_hash_old"] != both["_hash_new"]]
    return {
        "added": len(added),
        "removed": len(removed),
        "changed": len(changed),
        "examples": {
            "added": _records(added[key]),
            "removed": _records(removed[key]),
            "changed": _records(changed[key]),
        },
    }


def _unkeyed(old: pd.DataFrame, new: pd.DataFrame, common: list[str]) -> dict[str, Any]:
    import pandas as pd

    old_hashes, new_hashes = _row_hashes(old[common]), _row_hashes(new[common])
    counts = [old_hashes.value_counts().rename("old"), new_hashes.value_counts().rename("new")]
    both = pd.concat(counts, axis=1).fillna(0)
    extra = (both["new"] - both["old"]).clip(lower=0)
    gone = (both["old"] - both["new"]).clip(lower=0)
    return {
        "added": int(extra.sum()),
        "removed": int(gone.sum()),
        "changed": None,  # unknown without a key
        "examples": {
            "added": _records(new[new_hashes.isin(extra[extra > 0].index).to_numpy()]),
            "removed": _records(old[old_hashes.isin(gone[gone > 0].index).to_numpy()]),
            "changed": [],
        },
    }


def compare(old: pd.DataFrame, new: pd.DataFrame, key: list[str] | None = None) -> dict[str, Any]:
    """Rows added, removed and changed from `old` to `new` (by `key` when given, else by whole rows),
    and the columns added, removed or retyped. JSON-ready."""
    from mlops_nb.pipelines.data_change import comparable

    columns = _columns(old, new)
    common = [c for c in old.columns if c in set(new.columns)]
    key = list(key or [])
    retyped = [c for c in common if old[c].dtype != new[c].dtype]
    if retyped:  # compared in one type: a column that became float because one value did is one change
        same_old, same_new = comparable(old[retyped], new[retyped])
        old, new = old.copy(), new.copy()
        for column in retyped:
            old[column], new[column] = same_old[column].to_numpy(), same_new[column].to_numpy()
    rows = _keyed(old, new, key, common) if key else _unkeyed(old, new, common)
    return {"key": key, "rows": {"old": len(old), "new": len(new)}, **rows, "columns": columns}


def between(a: DatasetVersion, b: DatasetVersion) -> dict[str, Any]:
    """`compare` of two versions (by the newer one's key, else the older one's) plus the data gate's drift
    checks of `b`'s statistics against `a`'s."""
    from mlops_nb.datasets import repository
    from mlops_nb.datasets.reading import frame
    from mlops_nb.gates.data import validate_data

    key = b.key or a.key
    usable = [k for k in key if k in a.columns and k in b.columns]
    report = compare(frame(a), frame(b), usable if usable == key else None)
    drift = validate_data(repository.profile(b), repository.profile(a))
    return {"old": a.ref, "new": b.ref, **report, "drift": drift.to_dict(), "drift_table": drift.to_table()}
