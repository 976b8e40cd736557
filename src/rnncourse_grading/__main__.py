"""``python -m rnncourse_grading SUBMISSIONS_DIR --out grades.csv``: see :mod:`rnncourse_grading.folder`."""

import sys

from .folder import main

sys.exit(main())
