"""``python -m setpoint.cli``: the same as the ``setpoint`` command."""

import sys

from setpoint.cli import main

sys.exit(main())
