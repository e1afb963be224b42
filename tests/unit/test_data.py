"""Split fingerprints, statistics, schema and row overlap (capture/data.py) on real frames and arrays."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlops_nb.capture import data
from mlops_nb.capture import profile as profile_mod
from mlops_nb.exceptions import UnsupportedDataError


def _frame(rows: int = 1000, seed: int = 0) -> pd.DataFrame:
    """A mixed frame built from scratch: equal seeds give equal, independently allocated frames."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "n": rng.integers(0, 100, rows),
            "flag": rng.random(rows) > 0.5,
            "city": pd.Series(rng.choice(["paris", "lyon", "nice"], rows), dtype="str"),
            "grade": pd.Categorical(rng.choice(["a", "b", "c"], rows)),
            "count": pd.array(rng.integers(0, 9, rows), dtype="Int64"),
            "when": pd.date_range("2024-01-01", periods=rows, freq="min"),
            "mixed": np.array([1, "one", 2.5, None] * (rows // 4), dtype=object),
        }
    )


# --------------------------------------------------------------------------- fingerprint


def test_fingerprint_is_32_hex_and_stable_for_equal_data():
    a, b = _frame(), _frame()
    assert a is not b
    digest = data.fingerprint(a)
    assert len(digest) == 32
    int(digest, 16)
    assert data.fingerprint(b) == digest
    assert data.fingerprint(a.copy(deep=True)) == digest


def test_one_value_in_last_row_of_a_million_rows_changes_the_digest():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.random((1_000_000, 10)), columns=[f"c{i}" for i in range(10)])
    before = data.fingerprint(frame)
    changed = frame.copy()
    changed.iloc[-1, 9] += 1e-9
    assert data.fingerprint(changed) != before
    changed.iloc[-1, 9] = frame.iloc[-1, 9]
    assert data.fingerprint(changed) == before


def test_a_change_in_any_column_kind_changes_the_digest():
    base = _frame()
    digest = data.fingerprint(base)
    edits = {
        "x": 0.125,
        "n": 101,
        "flag": not base["flag"].iloc[-1],
        "city": "nice" if base["city"].iloc[-1] != "nice" else "lyon",
        "grade": "a" if base["grade"].iloc[-1] != "a" else "b",
        "count": pd.NA,
        "when": pd.Timestamp("1999-01-01"),
        "mixed": "two",
    }
    for column, value in edits.items():
        edited = base.copy()
        edited.loc[edited.index[-1], column] = value
        assert data.fingerprint(edited) != digest, column


def test_dtype_change_with_equal_values_is_detected():
    ints = pd.DataFrame({"a": np.arange(10, dtype=np.int64)})
    floats = pd.DataFrame({"a": np.arange(10, dtype=np.float64)})
    assert (ints["a"] == floats["a"]).all()
    assert data.fingerprint(ints) != data.fingerprint(floats)
    assert data.fingerprint(ints.astype("Int64")) != data.fingerprint(ints)


def test_column_rename_row_order_and_index_are_detected():
    frame = _frame()
    digest = data.fingerprint(frame)
    assert data.fingerprint(frame.rename(columns={"x": "y"})) != digest
    assert data.fingerprint(frame.iloc[::-1]) != digest
    assert data.fingerprint(frame.iloc[::-1].reset_index(drop=True)) != digest
    assert data.fingerprint(frame.set_axis(frame.index + 1)) != digest
    assert data.fingerprint(frame[list(reversed(frame.columns))]) != digest


def test_label_types_count_and_range_index_equals_its_materialised_form():
    frame = pd.DataFrame({"0": [1.0, 2.0]})
    assert data.fingerprint(frame) != data.fingerprint(pd.DataFrame({0: [1.0, 2.0]}))
    materialised = frame.set_axis(pd.Index(np.arange(2, dtype=np.int64)))
    assert isinstance(frame.index, pd.RangeIndex)
    assert not isinstance(materialised.index, pd.RangeIndex)
    assert data.fingerprint(materialised) == data.fingerprint(frame)


def test_series_and_numpy_arrays():
    values = np.arange(12, dtype=np.float64)
    series = pd.Series(values, name="v")
    assert data.fingerprint(series) == data.fingerprint(pd.Series(values.copy(), name="v"))
    assert data.fingerprint(series) != data.fingerprint(series.rename("w"))
    one_d, two_d = values, values.reshape(3, 4)
    assert data.fingerprint(one_d) != data.fingerprint(two_d)  # same bytes, other shape
    assert data.fingerprint(two_d) == data.fingerprint(np.asfortranarray(two_d))  # layout does not count
    assert data.fingerprint(two_d) != data.fingerprint(two_d.T.copy().T.astype(np.float32))
    changed = two_d.copy()
    changed[-1, -1] = -1
    assert data.fingerprint(changed) != data.fingerprint(two_d)
    objects = np.array([[1, "a"], [None, 2.5]], dtype=object)
    assert data.fingerprint(objects) == data.fingerprint(objects.copy())
    changed_objects = objects.copy()
    changed_objects[1, 0] = 0
    assert data.fingerprint(changed_objects) != data.fingerprint(objects)


def test_object_values_of_different_types_differ():
    ints = np.array([1, 2, None], dtype=object)
    texts = np.array(["1", "2", None], dtype=object)
    floats = np.array([1.0, 2, None], dtype=object)
    assert len({data.fingerprint(ints), data.fingerprint(texts), data.fingerprint(floats)}) == 3


def test_string_storage_and_chunking_do_not_count_but_values_do():
    words = ["alpha", None, "", "gamma", "delta"] * 20
    python = pd.Series(words, dtype=pd.StringDtype("python", na_value=np.nan))
    arrow = pd.Series(words, dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    assert str(python.dtype) == str(arrow.dtype) == "str"
    assert data.fingerprint(python) == data.fingerprint(arrow)
    chunked = pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array([words[:33], words[33:]])))
    single = pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array([words])))
    assert data.fingerprint(chunked) == data.fingerprint(single)
    sliced = pd.Series(pd.arrays.ArrowExtensionArray(pa.array(["x", *words])[1:])).reset_index(drop=True)
    assert data.fingerprint(sliced) == data.fingerprint(single)
    moved = words.copy()
    moved[0], moved[1] = "alph", "a"  # same bytes, other boundaries
    assert data.fingerprint(pd.Series(moved, dtype="str")) != data.fingerprint(arrow)
    empty_for_missing = [w if w is not None else "" for w in words]
    assert data.fingerprint(pd.Series(empty_for_missing, dtype="str")) != data.fingerprint(arrow)


def test_categorical_categories_and_codes_count():
    a = pd.Series(pd.Categorical(["x", "y", "x"]))
    assert data.fingerprint(a) == data.fingerprint(pd.Series(pd.Categorical(["x", "y", "x"])))
    assert data.fingerprint(a) != data.fingerprint(
        pd.Series(pd.Categorical(["x", "y", "x"], categories=["y", "x"]))
    )
    assert data.fingerprint(a) != data.fingerprint(a.astype("str"))
    assert data.fingerprint(a) != data.fingerprint(a.cat.as_ordered())


def test_datetimes_with_and_without_zone():
    naive = pd.Series(pd.date_range("2024-01-01", periods=5, freq="D"))
    utc = naive.dt.tz_localize("UTC")
    paris = utc.dt.tz_convert("Europe/Paris")
    assert len({data.fingerprint(naive), data.fingerprint(utc), data.fingerprint(paris)}) == 3
    later = utc.copy()
    later.iloc[-1] += pd.Timedelta(microseconds=1)
    assert data.fingerprint(later) != data.fingerprint(utc)


def test_nullable_missing_positions_count_not_their_filler():
    a = pd.Series(pd.array([1, None, 3], dtype="Int64"))
    b = pd.Series(pd.array([1, 0, 3], dtype="Int64"))
    assert data.fingerprint(a) != data.fingerprint(b)
    assert data.fingerprint(a) == data.fingerprint(pd.Series(pd.array([1, None, 3], dtype="Int64")))


@pytest.mark.parametrize("value", [[1, 2, 3], {"a": [1]}, "text", 3.5, None, np.float64(1.0), np.array(4.0)])
def test_unsupported_types_name_the_type_and_what_is_supported(value):
    for call in (data.fingerprint, data.num_rows, data.row_hashes, profile_mod.mlflow_schema):
        with pytest.raises(UnsupportedDataError) as error:
            call(value)
        assert data.SUPPORTED in str(error.value)
        if not isinstance(value, np.ndarray):
            assert type(value).__qualname__ in str(error.value)
    with pytest.raises(UnsupportedDataError):
        profile_mod.profile(value, name="train", context="training")


def test_module_import_is_light():
    code = (
        "import sys, mlops_nb.capture.data;"
        "print(sorted(m for m in ('mlflow', 'sklearn', 'pandas', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- profile


def _percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q))


def test_numeric_statistics_match_numpy():
    rng = np.random.default_rng(7)
    values = rng.normal(10, 3, 50_001)
    values[::10] = np.nan
    frame = pd.DataFrame({"x": values})
    stats = profile_mod.profile(frame, name="train", context="training")["columns"]["x"]
    present = values[~np.isnan(values)]
    assert stats["kind"] == "numeric"
    assert stats["missing"] == 5001
    assert stats["count"] == present.size == 45_000
    assert stats["missing_rate"] == pytest.approx(5001 / 50_001)
    assert stats["mean"] == pytest.approx(present.mean(), rel=1e-12)
    assert stats["std"] == pytest.approx(present.std(ddof=1), rel=1e-12)
    assert stats["min"] == present.min()
    assert stats["max"] == present.max()
    for key in ("0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99"):
        assert stats["quantiles"][key] == pytest.approx(_percentile(present, float(key) * 100), rel=1e-12)
    assert len(stats["percentiles"]) == 101
    assert stats["percentiles"] == pytest.approx([_percentile(present, q) for q in range(101)], rel=1e-12)
    counts, edges = np.histogram(present, bins=20)
    assert stats["histogram"]["edges"] == pytest.approx(edges.tolist(), rel=1e-12)
    assert stats["histogram"]["counts"] == counts.tolist()
    assert sum(stats["histogram"]["counts"]) == stats["count"]


def test_numeric_edge_cases_stay_json():
    frame = pd.DataFrame(
        {
            "const": [2.0, 2.0, 2.0],
            "empty": [np.nan, np.nan, np.nan],
            "inf": [1.0, np.inf, 3.0],
            "one": [np.nan, np.nan, 4.0],
        }
    )
    profile = profile_mod.profile(frame, name="t", context="testing")
    json.dumps(profile, allow_nan=False)
    columns = profile["columns"]
    counts, edges = np.histogram(np.array([2.0, 2.0, 2.0]), bins=20)
    assert columns["const"]["histogram"]["counts"] == counts.tolist()
    assert columns["const"]["histogram"]["edges"] == pytest.approx(edges.tolist())
    assert columns["const"]["std"] == 0.0
    assert columns["empty"]["count"] == 0
    assert columns["empty"]["missing"] == 3
    assert columns["empty"]["mean"] is None
    assert columns["inf"]["count"] == 3
    assert columns["inf"]["max"] == 3.0  # statistics are over the finite values
    assert columns["one"]["std"] is None
    assert columns["one"]["mean"] == 4.0


def test_categorical_and_boolean_statistics():
    city = ["paris"] * 50 + ["lyon"] * 30 + ["nice"] * 15 + [None] * 5
    frame = pd.DataFrame(
        {
            "city": pd.Series(city, dtype="str"),
            "grade": pd.Categorical(["a"] * 60 + ["b"] * 40, categories=["a", "b", "unused"]),
            "flag": [True] * 70 + [False] * 30,
            "ids": [f"id{i}" for i in range(100)],
        }
    )
    columns = profile_mod.profile(frame, name="train", context="training")["columns"]
    assert columns["city"]["kind"] == "categorical"
    assert columns["city"]["missing"] == 5
    assert columns["city"]["count"] == 95
    assert columns["city"]["cardinality"] == 3
    assert columns["city"]["top"] == [
        {"value": "paris", "count": 50, "frequency": 50 / 95},
        {"value": "lyon", "count": 30, "frequency": 30 / 95},
        {"value": "nice", "count": 15, "frequency": 15 / 95},
    ]
    assert columns["city"]["other_frequency"] == pytest.approx(0.0)
    assert columns["grade"]["cardinality"] == 2  # unobserved categories are not values
    assert [t["value"] for t in columns["grade"]["top"]] == ["a", "b"]
    assert columns["flag"]["kind"] == "boolean"
    assert columns["flag"]["top"][0] == {"value": "True", "count": 70, "frequency": 0.7}
    assert columns["ids"]["cardinality"] == 100
    assert len(columns["ids"]["top"]) == 50
    assert columns["ids"]["other_frequency"] == pytest.approx(0.5)


def test_datetime_statistics():
    when = pd.Series(
        pd.to_datetime(["2024-03-01 10:00", None, "2023-12-31 23:59:59", "2024-01-15"], format="ISO8601")
    )
    stats = profile_mod.profile(when.rename("when"), name="t", context="testing")["columns"]["when"]
    assert stats == {
        "kind": "datetime",
        "count": 3,
        "missing": 1,
        "missing_rate": 0.25,
        "min": "2023-12-31T23:59:59",
        "max": "2024-03-01T10:00:00",
    }


def test_profile_document_shape_for_frames_series_and_arrays():
    frame = _frame(400)
    profile = profile_mod.profile(frame, name="train", context="training", seed=42)
    text = json.dumps(profile, allow_nan=False)
    assert json.loads(text) == profile
    assert profile["digest"] == data.fingerprint(frame)
    assert profile["type"] == "pandas.DataFrame"
    assert (profile["num_rows"], profile["num_columns"], profile["seed"]) == (400, 8, 42)
    kinds = {c["name"]: c["kind"] for c in profile["schema"]}
    assert kinds == {
        "x": "numeric",
        "n": "numeric",
        "flag": "boolean",
        "city": "categorical",
        "grade": "categorical",
        "count": "numeric",
        "when": "datetime",
        "mixed": "categorical",
    }
    assert {c["name"]: c["dtype"] for c in profile["schema"]}["count"] == "Int64"
    assert profile["columns"]["mixed"]["missing"] == 100
    assert profile["columns"]["mixed"]["cardinality"] == 3
    assert profile_mod.profile(frame, name="t", context="training", digest="f" * 32)["digest"] == "f" * 32

    array = np.arange(12.0).reshape(4, 3)
    array_profile = profile_mod.profile(array, name="test", context="testing")
    assert array_profile["type"] == "numpy.ndarray"
    assert [c["name"] for c in array_profile["schema"]] == ["0", "1", "2"]
    assert array_profile["columns"]["2"]["max"] == 11.0
    assert profile_mod.profile(np.arange(5), name="y", context="training")["schema"][0]["name"] == "value"
    series_profile = profile_mod.profile(pd.Series([1, 2, 3]), name="y", context="training")
    assert series_profile["type"] == "pandas.Series"
    assert (series_profile["num_columns"], series_profile["schema"][0]["name"]) == (1, "value")
    assert (
        profile_mod.profile(pd.Series([1], name="label"), name="y", context="training")["schema"][0]["name"]
        == "label"
    )


def test_arrays_without_rows_have_a_profile():
    profile = profile_mod.profile(np.empty((0, 3)), name="test", context="testing")
    assert (profile["num_rows"], profile["num_columns"]) == (0, 3)
    assert profile_mod.profile(np.empty((0, 2, 2)), name="test", context="testing")["num_columns"] == 4
    assert len(data.row_hashes(np.empty((0, 3)))) == 0


def test_repeated_column_names_get_suffixes():
    frame = pd.DataFrame([[1, 2, 3]], columns=["a", "a", "a.1"])
    profile = profile_mod.profile(frame, name="t", context="training")
    assert [c["name"] for c in profile["schema"]] == ["a", "a.1", "a.1.1"]
    assert profile["columns"]["a.1"]["max"] == 2.0


# --------------------------------------------------------------------------- rows, overlap, schema


def test_row_hashes_and_planted_overlap():
    rng = np.random.default_rng(3)
    train = pd.DataFrame(
        {"x": rng.random(5000), "y": rng.integers(0, 10**9, 5000), "s": rng.random(5000).astype(str)}
    )
    test = pd.DataFrame(
        {"x": rng.random(1000), "y": rng.integers(0, 10**9, 1000), "s": rng.random(1000).astype(str)}
    )
    assert data.shared_row_count(train, test) == 0
    planted = [5, 77, 4999, 1234]
    leaked = pd.concat([test.iloc[:-4], train.iloc[planted]])  # other index: content only counts
    hashes = data.row_hashes(leaked)
    assert hashes.dtype == np.uint64
    assert hashes.shape == (1000,)
    assert data.shared_row_count(train, leaked) == 4
    assert data.shared_row_count(train.to_numpy(), leaked.to_numpy()) == 4
    assert data.shared_row_count(train["x"], leaked["x"]) == 4
    assert data.shared_row_count(train, leaked[["x", "y"]]) == 0


def test_mlflow_schema_matches_mlflow_inference():
    from mlflow.types.utils import _infer_schema

    frame = pd.DataFrame(
        {
            "f": [1.0, 2.0],
            "f32": np.array([1, 2], dtype=np.float32),
            "i": [1, 2],
            "i32": np.array([1, 2], dtype=np.int32),
            "u8": np.array([1, 2], dtype=np.uint8),
            "b": [True, False],
            "s": ["a", "b"],
            "dt": pd.to_datetime(["2020-01-01", "2020-01-02"]),
            "cat": pd.Categorical(["a", "b"]),
            "I": pd.array([1, None], dtype="Int64"),
            "by": [b"a", b"b"],
        }
    )
    with pytest.warns(UserWarning, match="integer column"):
        expected = _infer_schema(frame).to_dict()
    assert profile_mod.mlflow_schema(frame) == {"mlflow_colspec": expected}
    assert json.dumps(profile_mod.mlflow_schema(frame))
    assert profile_mod.mlflow_schema(np.zeros((2, 2), dtype=np.int64)) == {
        "mlflow_colspec": [
            {"type": "long", "name": "0", "required": True},
            {"type": "long", "name": "1", "required": True},
        ]
    }


def test_num_rows():
    assert data.num_rows(_frame(8)) == 8
    assert data.num_rows(pd.Series([1, 2])) == 2
    assert data.num_rows(np.zeros((3, 2, 2))) == 3
