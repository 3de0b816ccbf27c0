"""Coordination between agents: locks, file reservations, barriers, messages and shared state.

Agents are separate processes in separate tmux sessions, so every primitive lives in the store (its `coord_*`
tables, store.py migration 8), every write in one `BEGIN IMMEDIATE` transaction, and a process waiting for one
is woken through a socket (`wake.py`) instead of polling. One module per primitive; `owners.py` says who is
calling and when an owner's hold ends with its agent. The CLI (`cli/coord.py`) and the MCP server (`mcp.py`)
are two faces of the same calls. README: Coordination.
"""
