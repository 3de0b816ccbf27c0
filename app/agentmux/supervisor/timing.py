"""How often the supervisor looks at the fleet, in one place (ARCHITECTURE.md, "One tick")."""

from __future__ import annotations

FAST_INTERVAL = 0.1
"""Seconds between looks while tasks are out or ready (an agent that turns idle gets its next task fast),
or, in the TUI, while screens change (visible tiles refresh at up to 10 Hz)."""
QUIET_INTERVAL = 0.25
"""Seconds between looks otherwise."""
QUIET_AFTER = 2.0
"""Seconds without a changed screen after which the TUI looks at the quiet rate."""
HIDDEN_EVERY = 2.0
"""Seconds between captures of an agent whose tile is not on screen (its state still updates every look)."""
LEASE_TTL = 3.0
"""Seconds the supervisor lease lasts without renewal."""
RENEW_EVERY = LEASE_TTL / 3
"""Seconds between renewals by the holder."""
