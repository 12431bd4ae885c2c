"""`python -m benchmarks`: see benchmarks/cli.py for the options."""

import sys

from benchmarks.cli import main

sys.exit(main())
