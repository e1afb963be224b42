"""A version that a release trained (the scheduler's retraining) keeps its monitoring policy once the
materialized release it ran from is removed (found by the monitoring audit)."""

from __future__ import annotations

import shutil

from mlops_nb import records
from mlops_nb.monitoring import served
from mlops_nb.pipelines import release, run
from tests.integration.pipeline_project import MODEL_NAME, Project, project_fixture  # noqa: F401 (fixture)


def test_a_version_trained_by_a_release_is_judged_by_the_releases_monitoring_section(
    project: Project,
) -> None:
    project.write_pipeline(monitoring={"decay_min_labels": 7, "cooldown": "2h"})
    pinned = release.release(project.pipeline, "dev")
    folder = project.root / ".mlops" / "scheduler" / "runs" / "1" / "release"
    path = release.materialize(pinned, folder)  # as the scheduler's retraining does
    options = run.RunOptions(env="dev", progress=False, extra_tags={records.TAG_RELEASE: pinned.tag_value})
    version = str(run.run(path, options).model_version)
    shutil.rmtree(folder)  # removed when the run ends
    project.write_pipeline(monitoring={"decay_min_labels": 99})  # the working copy moved on

    info = served.served(MODEL_NAME, "champion", version=version)
    assert info.metric == "test_accuracy" and info.task == "classification", info.policy
    assert info.thresholds.decay_min_labels == 7 and info.thresholds.cooldown == "2h"
    assert info.pipeline == "fixture" and info.env == "dev"  # raised by name: the env's current release
    assert "release fixture dev#1" in info.policy
