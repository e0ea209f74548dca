"""`python3 -m agentctl`: what the installed launcher runs."""

import sys

from .cli import main

sys.exit(main())
