"""Registry: register with lineage and the challenger alias, champion look-ups, promotion (real store)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlops_nb import config, records, store
from mlops_nb.capture.profile import profile
from mlops_nb.exceptions import NotFoundError, StoreError, UsageError
from mlops_nb.gates.data import validate_data
from mlops_nb.gates.model import validate_model
from mlops_nb.pipelines.reference import split_profile
from mlops_nb.registry.promotion import promote
from mlops_nb.registry.register import (
    champion,
    champion_metrics,
    champion_reference_split,
    register,
)

REQUIREMENTS = ["scikit-learn"]  # skips MLflow's slow requirement inference


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One project store for the module (creating a store takes seconds); each test has its own model."""
    root = tmp_path_factory.mktemp("proj")
    (root / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\n', encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("MLOPS_NB_PROJECT", str(root))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        mlflow.set_tracking_uri(store.ensure_store().tracking_uri)
        yield root
        mlflow.set_tracking_uri(None)


@pytest.fixture
def model(project: Path, request: pytest.FixtureRequest) -> str:
    """A registered model name of this test's own."""
    return request.node.name.removeprefix("test_")


def train_run(
    *, accuracy: float, pipeline_run: str | None = None, model_name: str = "model"
) -> tuple[str, str]:
    """A training run like the notebook's: tags, a train split (input + statistics), a metric, a model."""
    client = store.client()
    experiment = store.experiment_id("train")
    frame = load_iris(as_frame=True).frame
    train = frame.sample(frac=0.8, random_state=0)
    split = profile(train, name="train", context="training")
    with mlflow.start_run(experiment_id=experiment) as run:
        run_id = run.info.run_id
        tags = {records.TAG_NOTEBOOK_HASH: "nbhash123", records.SOURCE_GIT_COMMIT: "c0ffee"}
        if pipeline_run:
            tags[records.TAG_PIPELINE_RUN] = pipeline_run
        mlflow.set_tags(tags)
        mlflow.log_metric("test_accuracy", accuracy)
        dataset = Dataset(name="train", digest=split["digest"], source_type="local", source="{}")
        tags_in = [InputTag(records.INPUT_CONTEXT, "training"), InputTag(records.INPUT_SPLIT, "train")]
        client.log_inputs(run_id, datasets=[DatasetInput(dataset, tags_in)])
        client.log_dict(run_id, split, records.split_artifact("train"))
        estimator = LogisticRegression(max_iter=300).fit(train.drop(columns="target"), train["target"])
        info = mlflow.sklearn.log_model(estimator, name=model_name, pip_requirements=REQUIREMENTS)
    return run_id, info.model_uri


def test_register_tags_lineage_and_sets_challenger_only(model):
    run_id, model_uri = train_run(accuracy=0.9)
    version = register(run_id, model_uri, model, tags={"mlops_nb.pipeline.name": "train_iris"})
    assert str(version.version) == "1"
    assert version.run_id == run_id
    assert version.aliases == [records.ALIAS_CHALLENGER]
    split = split_profile(run_id)
    assert version.tags[records.TAG_NOTEBOOK_HASH] == "nbhash123"
    assert version.tags[records.SOURCE_GIT_COMMIT] == "c0ffee"
    assert version.tags[records.dataset_digest_tag("train")] == split["digest"]
    assert version.tags["mlops_nb.pipeline.name"] == "train_iris"
    assert champion(model) is None
    client = store.client()
    logged = client.get_logged_model(model_uri.removeprefix("models:/"))
    links = json.loads(logged.tags[MLFLOW_MODEL_VERSIONS])
    assert [(link["name"], str(link["version"])) for link in links] == [(model, "1")]
    loaded = mlflow.sklearn.load_model(f"models:/{model}@{records.ALIAS_CHALLENGER}")
    assert list(loaded.predict(load_iris(as_frame=True).data.head(3))) == [0, 0, 0]

    second, second_uri = train_run(accuracy=0.8)
    assert str(register(second, f"runs:/{second}/model", model).version) == "2"
    aliases = client.get_registered_model(model).aliases
    assert {alias: str(v) for alias, v in aliases.items()} == {records.ALIAS_CHALLENGER: "2"}
    assert client.get_model_version(model, "2").source == second_uri


def test_no_champion_means_none_everywhere(model):
    assert champion("nobody") is None
    assert champion_metrics("nobody") is None
    assert champion_reference_split("nobody") is None
    run_id, model_uri = train_run(accuracy=0.9)
    register(run_id, model_uri, model)
    assert champion(model) is None  # a registered model with only a challenger
    assert champion_metrics(model, ["test_accuracy"]) is None


def test_promotion_records_who_when_why_and_feeds_the_gates(model):
    client = store.client()
    pipeline = client.create_run(store.experiment_id("train")).info.run_id
    client.log_metric(pipeline, "test_accuracy", 0.95)  # what a pipeline's evaluation step logs
    client.set_terminated(pipeline)
    first, first_uri = train_run(accuracy=0.9, pipeline_run=pipeline)
    gates = {
        "data": validate_data(reference_profile := split_profile(first), reference_profile),
        "model": validate_model(
            {"test_accuracy": 0.95}, None, {"test_accuracy": {"threshold": 0.9, "greater_is_better": True}}
        ),
    }
    registered = register(first, first_uri, model, gates=gates)
    assert registered.tags[records.gate_tag("model")] == "passed"
    assert registered.tags[records.gate_tag("data", "summary")].startswith("Data validation passed")
    promote(model, 1, force=True, reason="first model", actor="ana")  # a plain run: no pipeline gates
    assert client.get_model_version(model, "1").aliases == [records.ALIAS_CHAMPION]  # challenger freed
    assert str(champion(model).version) == "1"
    assert champion_metrics(model) == {"test_accuracy": 0.95}  # the pipeline run's value wins
    assert champion_metrics(model, ["test_accuracy", "f1"]) == {"test_accuracy": 0.95}
    reference = champion_reference_split(model)
    assert reference["name"] == "train"
    assert reference["num_rows"] == 120
    assert set(reference["columns"]) >= {"sepal length (cm)", "target"}

    second, second_uri = train_run(accuracy=0.97)
    register(second, second_uri, model)
    assert str(champion(model).version) == "1"  # registering never touches the champion
    promote(model, "2", force=True, reason="better accuracy", actor="bo")
    assert str(champion(model).version) == "2"


def test_register_refuses_wrong_inputs(model):
    run_id, model_uri = train_run(accuracy=0.9)
    other, _ = train_run(accuracy=0.8)
    with pytest.raises(NotFoundError, match=r"Run '0+' does not exist"):
        register("0" * 32, model_uri, model)
    with pytest.raises(UsageError, match=f"was logged by run {run_id}, not by run {other}"):
        register(other, model_uri, model)
    with pytest.raises(NotFoundError, match="logged no model named 'nope'"):
        register(run_id, f"runs:/{run_id}/nope", model)
    with pytest.raises(UsageError, match="expected models:/<model_id>"):
        register(run_id, "s3://bucket/model", model)
    assert store.client().search_registered_models(f"name = '{model}'") == []  # nothing made


@contextlib.contextmanager
def failing_writes(table: str) -> Iterator[None]:
    """Make the real store refuse writes to `table` (a SQLite trigger), as a broken backend would."""
    db = Path(config.current().tracking_uri.removeprefix("sqlite:///"))
    with contextlib.closing(sqlite3.connect(db)) as conn:
        for event in ("INSERT", "UPDATE"):
            conn.execute(
                f"CREATE TRIGGER refuse_{event.lower()} BEFORE {event} ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'writes refused by the test'); END"
            )
        conn.commit()
    try:
        yield
    finally:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            conn.execute("DROP TRIGGER refuse_insert")
            conn.execute("DROP TRIGGER refuse_update")
            conn.commit()


def test_failed_aliasing_rolls_the_registration_back(model):
    client = store.client()
    run_id, model_uri = train_run(accuracy=0.9)
    with failing_writes("registered_model_aliases"), pytest.raises(StoreError, match="rolled back"):
        register(run_id, model_uri, model)
    assert client.search_registered_models(f"name = '{model}'") == []  # the model it created is gone too

    register(run_id, model_uri, model)
    second, second_uri = train_run(accuracy=0.8)
    with failing_writes("registered_model_aliases"), pytest.raises(StoreError, match="version 2 of model"):
        register(second, second_uri, model)
    assert [str(v.version) for v in client.search_model_versions(f"name = '{model}'")] == ["1"]
    assert str(client.get_registered_model(model).aliases[records.ALIAS_CHALLENGER]) == "1"


def test_reference_split_is_found_by_context(model):
    client = store.client()
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    renamed = profile(frame, name="fit", context="training")  # the notebook called its training split "fit"
    with mlflow.start_run(experiment_id=store.experiment_id("train")) as run:
        tags = [InputTag(records.INPUT_CONTEXT, "training"), InputTag(records.INPUT_SPLIT, "fit")]
        dataset = Dataset(name="fit", digest=renamed["digest"], source_type="local", source="{}")
        client.log_inputs(run.info.run_id, datasets=[DatasetInput(dataset, tags)])
        client.log_dict(run.info.run_id, renamed, records.split_artifact("fit"))
        estimator = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
        info = mlflow.sklearn.log_model(estimator, name="model", pip_requirements=REQUIREMENTS)
    register(run.info.run_id, info.model_uri, model)
    promote(model, 1, force=True, reason="x")
    assert champion_reference_split(model)["name"] == "fit"
    with pytest.raises(NotFoundError, match=r"recorded no split 'test' \(splits: fit\)"):
        champion_reference_split(model, "test")


_REGISTRY_WRITES = {
    "create_registered_model",
    "create_model_version",
    "set_registered_model_alias",
    "delete_registered_model_alias",
    "set_model_version_tag",
    "set_logged_model_tags",
}


class Interrupting:
    """The real client, with `error` raised at its `n`th registry write, as a signal or sys.exit would."""

    def __init__(self, n: int, error: type[BaseException]) -> None:
        self.client, self.n, self.error, self.writes = store.client(), n, error, 0

    def __getattr__(self, name: str) -> object:
        method = getattr(self.client, name)
        if name not in _REGISTRY_WRITES:
            return method

        def write(*args: object, **kwargs: object) -> object:
            self.writes += 1
            if self.writes == self.n:
                raise self.error()
            return method(*args, **kwargs)

        return write


def _complete_or_absent(model: str, lineage: dict[str, str]) -> list[str]:
    """The versions of `model`, after checking each has its lineage tags and challenger is one of them."""
    client = store.client()
    versions = client.search_model_versions(f"name = '{model}'")
    for version in versions:
        assert lineage.items() <= version.tags.items(), version.tags
    if versions:
        aliases = client.get_registered_model(model).aliases
        assert str(aliases[records.ALIAS_CHALLENGER]) in {str(v.version) for v in versions}
    return sorted(str(v.version) for v in versions)


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_an_interruption_between_registration_writes_leaves_no_half_made_version(model, error):
    run_id, model_uri = train_run(accuracy=0.9)
    lineage = {records.TAG_NOTEBOOK_HASH: "nbhash123", records.SOURCE_GIT_COMMIT: "c0ffee"}
    n = 1
    while True:  # the first registration, interrupted at each of its writes in turn
        client = Interrupting(n, error)
        try:
            register(run_id, model_uri, model, client=client)
        except error:
            assert _complete_or_absent(model, lineage) == []
            assert store.client().search_registered_models(f"name = '{model}'") == []
            n += 1
            continue
        break
    assert n > 3  # model, version, alias (and the logged model's link) were each interrupted
    assert _complete_or_absent(model, lineage) == ["1"]

    second, second_uri = train_run(accuracy=0.8)
    for n in range(1, client.writes + 1):  # a second version, interrupted: version 1 stays challenger
        with pytest.raises(error):
            register(second, second_uri, model, client=Interrupting(n, error))
        assert _complete_or_absent(model, lineage) == ["1"]
        assert str(store.client().get_registered_model(model).aliases[records.ALIAS_CHALLENGER]) == "1"


_REGISTER_AND_HOLD = """
import sys

from mlops_nb import cli, store
from mlops_nb.registry.register import register

cli._stop_on_sigterm()
run_id, model_uri, name, held, failing = sys.argv[1:]
client = store.client()


def wrap(method, *, hold=False, fail=False):
    original = getattr(client, method)

    def call(*args, **kwargs):
        if hold:
            print(method, flush=True)
            sys.stdin.readline()  # the test sends SIGTERM twice meanwhile
        if fail:
            raise RuntimeError("the registry refused")
        return original(*args, **kwargs)

    setattr(client, method, call)


wrap(held, hold=True, fail=held == failing)
if failing not in (held, "none"):
    wrap(failing, fail=True)
try:
    register(run_id, model_uri, name, client=client)
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.mark.parametrize(
    ("held", "failing", "versions"),
    [
        ("set_registered_model_alias", "none", ["1"]),  # signals during the writes: they complete first
        ("delete_model_version", "set_registered_model_alias", []),  # during the undo: it completes first
    ],
)
def test_two_sigterms_during_registration_leave_it_complete_or_absent(
    model, project, held, failing, versions
):
    import os
    import signal
    import subprocess
    import sys

    run_id, model_uri = train_run(accuracy=0.9)
    process = subprocess.Popen(
        [sys.executable, "-c", _REGISTER_AND_HOLD, run_id, model_uri, model, held, failing],
        cwd=project,
        env=os.environ.copy(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == held  # the child is inside the registration
        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGTERM)
        process.stdin.write("\n")
        process.stdin.flush()
        process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130  # the interruption still ends the command, after the registry write
    lineage = {records.TAG_NOTEBOOK_HASH: "nbhash123", records.SOURCE_GIT_COMMIT: "c0ffee"}
    assert _complete_or_absent(model, lineage) == versions
