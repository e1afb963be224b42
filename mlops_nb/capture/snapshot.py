"""The notebook snapshot of a run: the notebook as it is on disk, uploaded as an artifact, and its hash."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mlops_nb import records
from mlops_nb.capture import code

if TYPE_CHECKING:
    from mlops_nb.capture.session import Session


def upload(session: Session) -> str | None:
    """Upload the notebook as it is on disk now; returns the content hash of what was uploaded."""
    if not (session.notebook and session.notebook.is_file()):
        return None
    text = session.notebook.read_text(encoding="utf-8")
    session.gateway.log_text(session.run_id, text, f"{records.ARTIFACT_CODE_DIR}/{session.notebook.name}")
    try:
        return code.notebook_hash(json.loads(text))
    except ValueError:
        return None
