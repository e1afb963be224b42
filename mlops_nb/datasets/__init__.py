"""Named, versioned datasets: ``add`` a file as a new version, ``get``/``load`` a version, ``materialize`` it.

See repository.py for where snapshots and version records live, diff.py for comparing versions, dvc.py for
DVC-tracked sources and prune.py for deleting snapshots nothing needs.
"""

from mlops_nb.datasets.reading import frame, load, materialize
from mlops_nb.datasets.repository import DatasetVersion, add, get, versions

__all__ = ["DatasetVersion", "add", "frame", "get", "load", "materialize", "versions"]
