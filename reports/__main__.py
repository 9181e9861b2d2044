"""`python -m reports merge|report|diff|gate ...`: the report commands without the conformance CLI."""

import sys

from .cli import main

sys.exit(main())
