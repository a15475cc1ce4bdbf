"""``python -m bench.warehouse [--scale S]``: see run.py."""

import sys

from bench.warehouse.run import main

sys.exit(main())
