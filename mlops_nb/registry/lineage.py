"""Lineage graphs: model version ↔ run ↔ datasets ↔ notebook snapshot ↔ git commit, and the pipeline run.

Nodes and edges as in ``api/openapi.yaml`` (LineageGraph). Node ids are type-prefixed: ``run:<id>``,
``model_version:<name>/<version>``, ``dataset:<digest>``, ``notebook:<hash>``, ``commit:<sha>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_nb import records, store
from mlops_nb.config import Settings
from mlops_nb.exceptions import UsageError
from mlops_nb.explore import checks, links, rows
from mlops_nb.explore.runs import model_versions

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run


class _Graph:
    def __init__(self, root: str) -> None:
        self.root = root
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: list[dict[str, str]] = []

    def node(self, node_id: str, kind: str, label: str, **data: Any) -> str:
        if node_id not in self.nodes:
            self.nodes[node_id] = {"id": node_id, "type": kind, "label": label, "data": data}
        return node_id

    def edge(self, source: str, target: str, relation: str) -> None:
        edge = {"source": source, "target": target, "relation": relation}
        if edge not in self.edges:
            self.edges.append(edge)

    def as_dict(self) -> dict[str, Any]:
        return {"root": self.root, "nodes": list(self.nodes.values()), "edges": self.edges}


def _run_node(graph: _Graph, run: Run, settings: Settings, kind: str = "run") -> str:
    info, tags = run.info, run.data.tags
    return graph.node(
        f"run:{info.run_id}",
        kind,
        info.run_name or info.run_id[:8],
        run_id=info.run_id,
        experiment_id=info.experiment_id,
        status=info.status,
        start_time=info.start_time,
        mode=rows.mode(tags),
        ui_url=links.run_url(settings, info.experiment_id, info.run_id),
    )


def _datasets(graph: _Graph, run_node: str, run: Run) -> None:
    for dataset_input in run.inputs.dataset_inputs if run.inputs else []:
        tags = {tag.key: tag.value for tag in dataset_input.tags}
        dataset = dataset_input.dataset
        split = tags.get(records.INPUT_SPLIT) or dataset.name
        node = graph.node(
            f"dataset:{dataset.digest}",
            "dataset",
            f"{split} ({dataset.digest[:8]})",
            digest=dataset.digest,
            name=dataset.name,
            split=split,
            context=tags.get(records.INPUT_CONTEXT),
            source_type=dataset.source_type,
        )
        graph.edge(run_node, node, "used_data")


def _code(graph: _Graph, run_node: str, tags: dict[str, str]) -> None:
    commit = tags.get(records.SOURCE_GIT_COMMIT)
    commit_node = None
    if commit:
        commit_node = graph.node(
            f"commit:{commit}",
            "commit",
            commit[:10] + (" (dirty)" if tags.get(records.TAG_GIT_DIRTY) == "true" else ""),
            sha=commit,
            dirty=None if records.TAG_GIT_DIRTY not in tags else tags[records.TAG_GIT_DIRTY] == "true",
            branch=tags.get(records.SOURCE_GIT_BRANCH),
            repo_url=tags.get(records.SOURCE_GIT_REPO_URL),
        )
    digest = tags.get(records.TAG_NOTEBOOK_HASH)
    path = tags.get(records.TAG_NOTEBOOK_PATH) or tags.get(records.SOURCE_NAME)
    if digest or tags.get(records.TAG_NOTEBOOK_SNAPSHOT):
        notebook = graph.node(
            f"notebook:{digest or run_node}",
            "notebook",
            (path or "notebook").rsplit("/", 1)[-1],
            path=path,
            hash=digest,
            snapshot_path=tags.get(records.TAG_NOTEBOOK_SNAPSHOT),
            run_id=run_node.removeprefix("run:"),
        )
        graph.edge(run_node, notebook, "ran_notebook")
        if commit_node:
            graph.edge(notebook, commit_node, "at_commit")
    elif commit_node:
        graph.edge(run_node, commit_node, "at_commit")


def _existing_run(client: MlflowClient, run_id: str) -> Run | None:
    """The run, or None when it was deleted from the store since something named it."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def _missing_run(graph: _Graph, run_id: str, kind: str) -> str:
    return graph.node(f"run:{run_id}", kind, f"{run_id[:8]} (deleted)", run_id=run_id, missing=True)


def _pipeline(
    graph: _Graph, client: MlflowClient, run_node: str, tags: dict[str, str], settings: Settings
) -> None:
    parent_id = tags.get(records.TAG_PIPELINE_RUN) or tags.get(records.PARENT_RUN_ID)
    if not parent_id:
        return
    parent = _existing_run(client, parent_id)
    node = (
        _run_node(graph, parent, settings, "pipeline_run")
        if parent
        else _missing_run(graph, parent_id, "pipeline_run")
    )
    graph.edge(run_node, node, "step_of")


def _version_node(graph: _Graph, settings: Settings, name: str, version: str, **data: Any) -> str:
    return graph.node(
        f"model_version:{name}/{version}",
        "model_version",
        f"{name} v{version}",
        name=name,
        version=str(version),
        ui_url=links.model_version_url(settings, name, str(version)),
        **data,
    )


def _add_run(graph: _Graph, client: MlflowClient, run: Run, settings: Settings) -> str:
    run_node = _run_node(graph, run, settings)
    tags = dict(run.data.tags)
    _datasets(graph, run_node, run)
    _code(graph, run_node, tags)
    _pipeline(graph, client, run_node, tags, settings)
    return run_node


def run_lineage(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """The lineage graph around run `run_id`, with the model versions registered from it."""
    run_id = checks.run_id(run_id)
    settings = store.ensure_store(settings)
    client = store.client(settings)
    graph = _Graph(f"run:{run_id}")
    with checks.translated(f"run {run_id}"):
        run = client.get_run(run_id)
        run_node = _add_run(graph, client, run, settings)
        for mv in model_versions(client, run_id):
            node = _version_node(graph, settings, mv["name"], mv["version"], aliases=mv["aliases"])
            graph.edge(node, run_node, "produced_by")
    return graph.as_dict()


def model_version_lineage(name: str, version: str, settings: Settings | None = None) -> dict[str, Any]:
    """The lineage graph of registered model version `name` `version`."""
    if not isinstance(name, str) or not name or len(name) > 250:
        raise UsageError(f"{name!r} is not a registered model name.")
    if not isinstance(version, str) or not version.isdigit() or len(version) > 9:
        raise UsageError(
            f"Model version {version!r} is not a version number.", hint="Versions are 1, 2, 3, ..."
        )
    settings = store.ensure_store(settings)
    client = store.client(settings)
    with checks.translated(f"model {name!r} version {version}"):
        mv = client.get_model_version(name, version)
        graph = _Graph(f"model_version:{name}/{version}")
        node = _version_node(
            graph,
            settings,
            name,
            version,
            aliases=list(mv.aliases or []),
            status=mv.status,
            source=mv.source,
            tags=dict(mv.tags or {}),
        )
        if mv.run_id:
            run = _existing_run(client, mv.run_id)
            run_node = (
                _add_run(graph, client, run, settings) if run else _missing_run(graph, mv.run_id, "run")
            )
            graph.edge(node, run_node, "produced_by")
    return graph.as_dict()
