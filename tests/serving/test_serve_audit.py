"""Found by using `mlops-nb serve` as a new user would: a classifier with string labels and string categorical
columns (a ColumnTransformer pipeline), the bodies MLflow's own client sends (NaN), Parquet and compressed bodies,
integer columns with missing or huge values, a deleted alias, and bad settings. Real server, real registry."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from mlops_nb import store
from mlops_nb.exceptions import ConfigError
from mlops_nb.serving import options as serve_options
from mlops_nb.serving.log_reader import read_table
from tests.serving.models import REQUIREMENTS
from tests.serving.server_process import serving, wait_until

HOSTILE = "<b>x</b> é"  # a column name with markup and a non-ASCII letter
ROWS = pd.DataFrame(
    {
        "city": ["Paris", 'Lyon, "FR"', "Nice"],
        "age": np.array([30, 41, 52], dtype="int64"),
        "income": [55.0, 38.5, 61.2],
        HOSTILE: [0.1, -0.4, 1.3],
    }
)


def _training(n: int = 200) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "city": rng.choice(["Paris", 'Lyon, "FR"', "Nice"], n),
            "age": rng.integers(18, 80, n).astype("int64"),
            "income": rng.normal(50, 10, n),
            HOSTILE: rng.normal(0, 1, n),
        }
    )
    return frame, np.where(frame["income"] > 50, "rich", "poor")


@pytest.fixture(scope="module")
def labelled(project: Path) -> str:
    """`labelled` version 1 @champion: string labels, a one-hot city, imputed numbers (NaN is scorable)."""
    frame, target = _training()
    numbers = ["age", "income", HOSTILE]
    estimator = make_pipeline(
        ColumnTransformer(
            [
                ("city", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                ("numbers", SimpleImputer(), numbers),
            ]
        ),
        LogisticRegression(),
    ).fit(frame, target)
    with mlflow.start_run(experiment_id=store.experiment_id("serving-audit")):
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=infer_signature(frame, estimator.predict(frame)),
            input_example=frame.head(3),
            pip_requirements=REQUIREMENTS,
            skops_trusted_types=["numpy.dtype"],  # the imputer keeps one
        )
    version = mlflow.register_model(info.model_uri, "labelled").version
    store.client().set_registered_model_alias("labelled", "champion", version)
    return "labelled"


@pytest.fixture(scope="module")
def server(project: Path, labelled: str):
    with serving(project, labelled, "--poll-seconds", "0.3") as client:
        yield client


def _expected(model: str, frame: pd.DataFrame) -> list:
    return mlflow.pyfunc.load_model(f"models:/{model}/1").predict(frame).tolist()


def _post(client: httpx.Client, body: bytes, content_type: str, **headers: str) -> httpx.Response:
    return client.post("/invocations", content=body, headers={"Content-Type": content_type, **headers})


def test_string_labels_are_answered_in_every_format(server: httpx.Client, labelled: str) -> None:
    expected = _expected(labelled, ROWS)
    assert set(expected) <= {"rich", "poor"}
    parquet = io.BytesIO()
    ROWS.to_parquet(parquet)  # with pandas' index column, which is not an input
    bodies = {
        "split": (
            json.dumps({"dataframe_split": ROWS.to_dict(orient="split", index=False)}),
            "application/json",
        ),
        "records": (json.dumps({"dataframe_records": ROWS.to_dict(orient="records")}), "application/json"),
        "inputs": (json.dumps({"inputs": ROWS.to_dict(orient="list")}), "application/json"),
        "instances": (json.dumps({"instances": ROWS.to_dict(orient="records")}), "application/json"),
        "reordered": (
            json.dumps({"dataframe_records": ROWS[ROWS.columns[::-1]].to_dict(orient="records")}),
            "application/json",
        ),
        "csv with quoting": (ROWS.to_csv(index=False), "text/csv"),
        "parquet": (parquet.getvalue(), "application/vnd.apache.parquet"),
    }
    for name, (body, media) in bodies.items():
        answer = _post(server, body.encode() if isinstance(body, str) else body, media)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json() == {"predictions": expected}, name


def test_the_nan_that_mlflows_own_client_sends_is_accepted(server: httpx.Client, labelled: str) -> None:
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    frame = ROWS.copy()
    frame.loc[1, "income"] = np.nan  # MLflow's client writes it as a bare NaN, which orjson refuses
    client = ScoringServerClient("127.0.0.1", server.base_url.port)
    got = client.invoke(frame).get_predictions()
    assert got.iloc[:, 0].tolist() == _expected(labelled, frame)
    body = (
        b'{"dataframe_records": [{"city": "Paris", "age": 30, "income": NaN, "<b>x</b> \\u00e9": -Infinity}]}'
    )
    answer = _post(server, body, "application/json")  # read as JSON; the model refuses the infinity
    assert answer.status_code == 400 and "JSON" not in answer.json()["message"], answer.text
    assert _post(server, b'{"inputs": [NaN', "application/json").status_code == 400


def test_compressed_bodies_are_read_within_the_size_limit(server: httpx.Client, labelled: str) -> None:
    body = json.dumps({"dataframe_split": ROWS.to_dict(orient="split", index=False)}).encode()
    expected = {"predictions": _expected(labelled, ROWS)}
    for encoding, packed in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        answer = _post(server, packed, "application/json", **{"Content-Encoding": encoding})
        assert answer.status_code == 200 and answer.json() == expected, answer.text
    bomb = gzip.compress(b" " * (11 * 2**20))  # 11 MiB of blanks over the 10 MiB limit, ~11 KiB packed
    assert _post(server, bomb, "application/json", **{"Content-Encoding": "gzip"}).status_code == 413
    broken = _post(server, b"not gzip", "application/json", **{"Content-Encoding": "gzip"})
    assert broken.status_code == 400 and "gzip" in broken.json()["message"]
    assert _post(server, body, "application/json", **{"Content-Encoding": "br"}).status_code == 415


def test_errors_name_the_problem_without_repeating_the_rows(server: httpx.Client) -> None:
    def message(body: dict | bytes, media: str = "application/json", status: int = 400) -> str:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        answer = _post(server, raw, media)
        assert answer.status_code == status, answer.text
        text = answer.json()["message"]
        assert "Traceback" not in text and "<b>" not in answer.text
        return text

    row = ROWS.iloc[0].to_dict() | {"age": 30}
    assert "format" in message({"inputs": [row]}, "application/json; format=pandas-split", 415)
    assert "missing value" in message({"dataframe_records": [row | {"age": None}]})
    assert "missing value" in message(
        b"city,age,income,x\nParis,,3.5,1\n".replace(b"x", HOSTILE.encode()), "text/csv"
    )
    assert "range" in message({"dataframe_records": [row | {"age": 10**30}]})
    assert "too large" in message(b'{"inputs": {"city": ["Paris"], "age": [1], "income": [1' + b"0" * 400
                                  + b'], "<b>x</b> \\u00e9": [0.1]}}')  # fmt: skip
    assert "Parquet" in message(b"PAR1 not parquet", "application/vnd.apache.parquet")


def test_the_log_holds_string_predictions_and_native_input_types(project: Path, labelled: str) -> None:
    folder = project / "audit-log"
    with serving(project, labelled, "--log-dir", str(folder)) as server:
        answer = server.post(
            "/invocations",
            json={"dataframe_records": ROWS.to_dict(orient="records")},
            headers={"X-Request-Id": "audit-log-1"},
        )
        assert answer.status_code == 200
    rows = read_table(folder)  # the server flushed its log on the way out
    assert rows is not None and rows.num_rows == len(ROWS)
    assert rows["request_id"].to_pylist() == ["audit-log-1"] * len(ROWS)
    assert rows["prediction"].to_pylist() == answer.json()["predictions"]
    assert rows["in.city"].to_pylist() == ROWS["city"].tolist()
    assert str(rows.schema.field("in.age").type) == "int64"
    assert str(rows.schema.field(f"in.{HOSTILE}").type) == "double"
    assert rows["row"].to_pylist() == [0, 1, 2]


def test_the_server_says_once_where_it_serves(project: Path, labelled: str) -> None:
    with serving(project, labelled, "--no-log") as client:
        port = client.base_url.port
    said = (project / f"serve-{port}.log").read_text()
    assert said.count(f"serving {labelled}") == 1, said


def test_a_deleted_alias_keeps_its_version_answering_and_is_reported_once(
    project: Path, labelled: str
) -> None:
    client = store.client()
    with serving(project, labelled, "--poll-seconds", "0.2", "--no-log") as server:
        port = server.base_url.port
        client.delete_registered_model_alias(labelled, "champion")
        try:
            entry = wait_until(lambda: server.get("/version").json()["versions"][0].get("not_followed"),
                               30, "the missing alias to be reported")  # fmt: skip
            assert "champion" in entry and "promote" in entry
            wait_until(lambda: server.get("/health").json()["uptime_s"] > 1.5, 30, "a few polls")
            answer = server.post("/invocations", json={"dataframe_records": ROWS.to_dict(orient="records")})
            assert answer.status_code == 200 and answer.headers["X-Model-Version"] == "1"
        finally:
            client.set_registered_model_alias(labelled, "champion", "1")
        wait_until(lambda: "not_followed" not in server.get("/version").json()["versions"][0], 30, "recovery")
    said = (project / f"serve-{port}.log").read_text()
    assert said.count("cannot be followed") == 1 and "Traceback" not in said, said


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"workers": 0}, "--workers"),
        ({"workers": 2.5}, "--workers"),
        ({"port": 99999}, "--port"),
        ({"port": "abc"}, "--port"),
        ({"max_body_bytes": 0}, "--max-body-bytes"),
        ({"poll_seconds": 0}, "--poll-seconds"),
        ({"bandit": ",,"}, "bandit"),
        ({"canary": "champion:10"}, "main alias"),
        ({"ab": "champion:50"}, "main alias"),
        ({"shadow": "champion"}, "already answers"),
        ({"alias": ["a", "b"]}, "--alias"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(project: Path, flags: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        serve_options.build("m", flags=flags)


def test_a_log_folder_that_cannot_be_made_is_refused(project: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="--log-dir"):
        serve_options.build("m", flags={"log_dir": str(blocker / "log")})
    section = tmp_path / "pipeline.yaml"
    section.write_text("model: {name: m}\nserving: {port: x, workers: 2}\n")
    with pytest.raises(ConfigError, match=r"serving\.port"):
        serve_options.build(None, pipeline=str(section))


def test_workers_stop_and_flush_their_log_when_the_server_process_is_killed(
    project: Path, labelled: str
) -> None:
    import os
    import signal

    folder = project / "audit-orphans"
    with serving(project, labelled, "--workers", "2", "--log-dir", str(folder)) as server:
        answer = server.post("/invocations", json={"dataframe_records": ROWS.to_dict(orient="records")})
        assert answer.status_code == 200
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(30)

        def gone() -> bool:
            try:
                httpx.get(f"{server.base_url}/ping", timeout=2)
            except httpx.TransportError:
                return True
            return False

        wait_until(gone, 60, "the orphaned workers to stop")
    table = wait_until(lambda: read_table(folder), 30, "the workers' log parts")
    assert table.num_rows == len(ROWS)


def test_the_log_keeps_every_row_whether_handed_as_a_matrix_or_lists(tmp_path: Path) -> None:
    import pyarrow as pa

    from mlops_nb.serving.inference_log import InferenceLog, now_us
    from mlops_nb.serving.log_reader import read_log

    log = InferenceLog(tmp_path)
    names = ("in.a", "in.b")

    def common(request: str) -> dict:
        return {"request_id": request, "ts": now_us(), "model_name": "m", "model_version": "1",
                "status": "ok", "error": None, "ood_count": 0}  # fmt: skip

    log.append_columns({**common("m1"), "row": 0, "ood": []}, {"prediction": [1.0]}, 1,
                       matrix=(names, np.array([[1.0, 2.0]])))  # fmt: skip
    log.append_columns(common("m2") | {"ood": []}, {"row": [0, 1], "prediction": [0.0, 1.0]}, 2,
                       matrix=(names, np.array([[3.0, 4.0], [5.0, 6.0]])))  # fmt: skip
    log.flush()  # all matrices: stacked
    log.append_columns({**common("m3"), "row": 0, "ood": []}, {"prediction": [1.0]}, 1,
                       matrix=(names, np.array([[7.0, 8.0]])))  # fmt: skip
    log.append_columns(common("l1") | {"model_version": "2"}, {"row": [0, 1], "prediction": ["x", "y"], "in.a": [9.0, None],
                                      "in.b": [10.0, 11.0], "ood": [["in.a"], []], "ood_count": [1, 0]}, 2)  # fmt: skip
    log.close()  # in one drain: a matrix, and lists of another version predicting strings
    parts = [pa.Table.from_batches([batch]) for batch in read_log(tmp_path)]  # the versions' own types
    assert len(parts) == 3  # the first flush closed one; the version predicting strings has its own
    rows = sorted((r for part in parts for r in part.to_pylist()), key=lambda r: (r["request_id"], r["row"]))
    table = {key: [r[key] for r in rows] for key in rows[0]}
    assert table["request_id"] == ["l1", "l1", "m1", "m2", "m2", "m3"]
    assert table["row"] == [0, 1, 0, 0, 1, 0]
    assert table["in.a"] == [9.0, None, 1.0, 3.0, 5.0, 7.0]
    assert table["in.b"] == [10.0, 11.0, 2.0, 4.0, 6.0, 8.0]
    assert table["ood"] == [["in.a"], [], [], [], [], []]
    assert table["ood_count"] == [1, 0, 0, 0, 0, 0]
    assert table["model_version"] == ["2", "2", "1", "1", "1", "1"]
    assert table["prediction"] == ["x", "y", 1.0, 0.0, 1.0, 1.0]


def test_a_server_killed_with_sigkill_loses_no_answered_request_from_its_log(
    project: Path, labelled: str
) -> None:
    """The open part is a stream on disk: a server started after the crash on the same folder makes it a part."""
    import os
    import signal

    from mlops_nb.serving import inference_log

    folder = project / "audit-killed"
    body = {"dataframe_records": ROWS.to_dict(orient="records")}
    with serving(project, labelled, "--log-dir", str(folder)) as server:
        for index in range(40):
            assert (
                server.post("/invocations", json=body, headers={"X-Request-Id": f"k{index}"}).status_code
                == 200
            )

        def drained() -> bool:  # the writer's last drain (once a second) reached the stream file
            streams = folder.glob(".part-*.arrows.tmp")
            return sum(b.num_rows for s in streams for b in inference_log._read_stream(s) or []) == 40 * len(
                ROWS
            )

        wait_until(drained, 30, "the log's drain")
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(30)
    assert read_table(folder) is None  # nothing had been rotated into a part
    with serving(project, labelled, "--log-dir", str(folder)):
        table = read_table(folder, columns=["request_id"])
        assert sorted(table["request_id"].to_pylist()) == sorted(
            f"k{i}" for i in range(40) for _ in ROWS.index
        )
        assert not list(folder.glob(f".part-*-{server.process.pid}-*"))
