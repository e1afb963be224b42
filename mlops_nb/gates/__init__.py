"""Gates a pipeline run must pass: data validation against reference statistics, model validation.

`gates.data.validate_data(current, reference, DataThresholds(...)) -> DataReport` and
`gates.model.validate_model(candidate, baseline, {metric: MetricThreshold(...)}) -> ModelReport`.
Both reports have `passed`, `summary()`, `to_dict()` (the JSON artifact) and `to_table()` (terminal text).
"""
