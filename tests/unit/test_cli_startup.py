"""The `mlops-nb` parser is built for every command, so building it must import no heavy library: a 1M-row
`mlops-nb score` spent 24 s of its 40 s in start-up while the reproduce parser imported nbformat/jsonschema."""

from __future__ import annotations

import subprocess
import sys


def test_building_the_parser_imports_no_heavy_library():
    code = (
        "import sys; from mlops_nb.cli import _parser; _parser(); "
        "print(sorted(m for m in ('nbformat', 'jsonschema', 'mlflow', 'pandas', 'sklearn', 'pyarrow') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stdout
