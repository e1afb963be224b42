"""A classifier whose classes are strings answers them (found by the monitoring audit; serving's owner may
fold this into test_serving_units)."""

from __future__ import annotations

import json

import numpy as np

from mlops_nb.serving import protocol


def test_string_class_predictions_are_encoded() -> None:
    predictions = np.array(["yes", "no", "yes"], dtype=object)  # what sklearn's predict gives for str labels
    answer = protocol.encode({"predictions": protocol.jsonable(predictions)})
    assert json.loads(answer) == {"predictions": ["yes", "no", "yes"]}
    assert protocol.per_row(predictions, 3) == ["yes", "no", "yes"]
    unicode = np.array(["a", "b"])  # a fixed-width unicode array
    assert json.loads(protocol.encode({"predictions": protocol.jsonable(unicode)})) == {
        "predictions": ["a", "b"]
    }
