"""The supervisor: one loop (pipeline.py) that follows the config, observes the fleet and hands each look to
its consumers; the lease that decides who dispatches (lease.py); its timing (timing.py); the headless
`agentmux serve` (serve.py); and the TUI's coalescing buffer (ui.py). ARCHITECTURE.md tells the whole tick."""
