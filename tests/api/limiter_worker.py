"""One process of the limiter's tests: waits for a start file, then sends COUNT requests to the fake through
Limiter.reserve, the real anthropic SDK and settle (or refused, on a 429), and prints one JSON line:
each request's grant time and how it ended."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import anthropic

from agentmux.api.limiter import KeyLimits, Limiter
from agentmux.store import Store
from tests.fake_anthropic import API_KEY


def main() -> None:
    store_path, state_dir, url, limits_json, count, agent, go = sys.argv[1:8]
    limits = KeyLimits(**json.loads(limits_json))
    store = Store(Path(store_path))
    limiter = Limiter(store, Path(state_dir), {"default": limits})
    client = anthropic.Anthropic(api_key=API_KEY, base_url=url, max_retries=0)
    deadline = time.monotonic() + 30
    while not Path(go).exists():  # every process starts at once
        if time.monotonic() > deadline:
            raise SystemExit("no start file")
        time.sleep(0.005)
    results = []
    for _ in range(int(count)):
        permit = limiter.reserve("default", agent, 20, 50, wait=60)
        try:
            raw = client.messages.with_raw_response.create(
                model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": agent}])
        except anthropic.RateLimitError as exc:
            permit.refused(float(exc.response.headers.get("retry-after", "1")))
            results.append({"at": permit.at, "status": 429})
            continue
        message = raw.parse()
        permit.settle(message.usage.input_tokens, message.usage.output_tokens, dict(raw.headers))
        results.append({"at": permit.at, "status": 200, "waited": permit.waited})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
