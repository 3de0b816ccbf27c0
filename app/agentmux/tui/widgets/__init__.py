"""Widgets of the agentmux TUI, one per module."""
