"""What code a run ran: source tags, git state and diff, environment and packages, notebook snapshot and the
parameters cells' names."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import records
from mlops_nb.capture import code, notebook, snapshot

if TYPE_CHECKING:
    from mlops_nb.capture.session import Session


def capture(session: Session, user_ns: dict[str, Any] | None, host: Mapping[str, Any]) -> dict[str, str]:
    """Tags and artifacts for the code version, environment and parameters; returns the tags. `host` is what
    the IPython adapter set (the user namespace and raw history), empty outside IPython."""
    nb_path = session.notebook
    kernel = sys.modules.get("ipykernel.kernelapp")
    interactive = host.get("user_ns") is not None or (kernel is not None and kernel.IPKernelApp.initialized())
    script = None if nb_path or interactive else _script()
    tags = {
        records.SOURCE_TYPE: "NOTEBOOK" if nb_path or interactive else "LOCAL",
        records.TAG_KERNEL: code.kernel_name() or "",
    }
    if nb_path or script:
        tags[records.SOURCE_NAME] = str(nb_path or script)
    elif interactive:
        session.warnings[records.TAG_WARNING_NOTEBOOK_UNKNOWN] = (
            "the notebook's path was not found, so its hash and snapshot are not recorded: "
            "use `%mlops track --notebook PATH` (or set MLOPS_NB_NOTEBOOK)"
        )
        tags[records.TAG_WARNING_NOTEBOOK_UNKNOWN] = session.warnings[records.TAG_WARNING_NOTEBOOK_UNKNOWN]
    nb = code.read_notebook(nb_path) if nb_path else None
    if nb_path:
        tags[records.TAG_NOTEBOOK_PATH] = str(nb_path)
        tags[records.TAG_NOTEBOOK_SNAPSHOT] = f"{records.ARTIFACT_CODE_DIR}/{nb_path.name}"
    git = session.git
    if git:
        tags.update(
            {
                records.SOURCE_GIT_COMMIT: git.commit,
                records.TAG_GIT_DIRTY: str(git.dirty).lower(),
            }
        )
        if git.branch:
            tags[records.SOURCE_GIT_BRANCH] = git.branch
        if git.repo_url:
            tags[records.SOURCE_GIT_REPO_URL] = git.repo_url
        if git.dirty:
            session.warnings[records.TAG_WARNING_GIT_DIRTY] = (
                f"{nb_path.name if nb_path else 'the code'} is not committed to git in {git.root} (snapshot recorded)"
                if git.untracked
                else f"uncommitted changes in {git.root} (diff recorded)"
            )
            tags[records.TAG_WARNING_GIT_DIRTY] = session.warnings[records.TAG_WARNING_GIT_DIRTY]
            session.gateway.log_text(session.run_id, git.diff, records.ARTIFACT_GIT_DIFF)
    session.gateway.log_dict(
        session.run_id, code.environment(tags[records.TAG_KERNEL] or None), records.ARTIFACT_ENVIRONMENT
    )
    session.gateway.log_text(session.run_id, code.packages(), records.ARTIFACT_PACKAGES)
    if digest := snapshot.upload(session):
        tags[records.TAG_NOTEBOOK_HASH] = digest
    # the parameters cell (and papermill's injected cell): values as the kernel holds them now, or, when
    # those cells come after `%mlops track`, once they have run (see cell_ran)
    session.parameter_names = notebook.parameter_names(nb, list(host.get("raw_history") or []))
    session.parameter_sources = {code.cell_source(c).strip() for c in notebook.parameter_cells(nb or {})}
    session.record_parameters(user_ns)
    return tags


def _script() -> Path | None:
    """The script this process runs; None for ``python -c`` and an interactive interpreter."""
    path = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    return path.resolve() if path is not None and path.is_file() else None
