"""API routing: agents that talk to the Anthropic Messages API themselves (kind `api`), one rate limiter shared
by every agent and process, a loopback gateway for Claude Code agents, and a usage ledger. README: API routing.
"""
