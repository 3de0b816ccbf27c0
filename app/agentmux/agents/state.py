"""What detectors say (a state and its reason) and the debouncer that keeps states from flickering."""

from __future__ import annotations

from dataclasses import dataclass

from agentmux.state import AgentState


@dataclass(frozen=True)
class Detected:
    """A detector's verdict: the state and a short reason a user can read."""

    state: AgentState
    reason: str = ""
    certain: bool = False
    """Known, not guessed (from the agent's own hook event): applied at once, never debounced."""


class Debouncer:
    """Commits a detected state only after it has held for `hold` seconds.

    A spinner that pauses for one tick must not turn a busy agent idle and back. States that end
    the process (exited, error, stopped) are facts, not guesses, so they apply at once.
    """

    IMMEDIATE = frozenset({AgentState.EXITED, AgentState.ERROR, AgentState.STOPPED, AgentState.STARTING})

    def __init__(self, current: Detected, hold: float = 0.4) -> None:
        self.current = current
        self.hold = hold
        self._candidate: Detected | None = None
        self._candidate_since = 0.0

    @property
    def settled(self) -> bool:
        """No other state is waiting to be confirmed."""
        return self._candidate is None

    def feed(self, detected: Detected, now: float) -> Detected:
        """Offer a fresh detection; returns the state to show now."""
        if detected.state == self.current.state:
            self.current = detected
            self._candidate = None
            return self.current
        settled_fact = self.current.state in self.IMMEDIATE - {AgentState.STARTING}
        if detected.certain or detected.state in self.IMMEDIATE or settled_fact:
            self.current = detected
            self._candidate = None
            return self.current
        if self._candidate is None or self._candidate.state != detected.state:
            self._candidate = detected
            self._candidate_since = now
        if now - self._candidate_since >= self.hold:
            self.current = detected
            self._candidate = None
        return self.current
