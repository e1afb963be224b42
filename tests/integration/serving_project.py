"""A project whose pipeline ran once: a registered LogisticRegression with an input example, its signature,
its training packages and held-out test split, at `MODEL_NAME@champion` (for the serving tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_nb import records, store
from tests.integration.pipeline_project import MODEL_NAME, Project, inside, new_project

NOTEBOOK = Path(__file__).parent / "notebooks" / "serving_classifier.ipynb"
REF = f"{MODEL_NAME}@{records.ALIAS_CHAMPION}"


def served_project(factory: pytest.TempPathFactory, **pipeline: object) -> Iterator[Project]:
    """Set up the project in a fresh folder (as the working directory), run its pipeline once and put
    `champion` on the version it registered; `pipeline` changes the pipeline file's top-level keys."""
    from mlops_nb.pipelines import run

    project = new_project(factory.mktemp("serving") / "proj", NOTEBOOK)
    with inside(project.root):
        project.write_pipeline(**pipeline)
        result = run.run(project.pipeline, run.RunOptions(progress=False))
        version = result.model_version or "1"
        store.writer().set_alias(MODEL_NAME, records.ALIAS_CHAMPION, str(version))
        yield project
