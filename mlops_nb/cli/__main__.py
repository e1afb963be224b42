"""``python -m mlops_nb.cli``: the same as ``mlops-nb``."""

import sys

from mlops_nb.cli import main

sys.exit(main())
