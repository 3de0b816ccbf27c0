"""Output of agents as lines: what is new since the last look (the log issue builds the full pipeline)."""
