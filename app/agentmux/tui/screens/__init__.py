"""Screens of the agentmux TUI."""
