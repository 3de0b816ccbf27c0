"""`python -m agentmux` runs the CLI."""

from __future__ import annotations

import sys

from agentmux.cli import main

sys.exit(main())
