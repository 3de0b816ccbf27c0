"""A line's severity (logs/severity.py): the default rules, tracebacks as one block, the config's rules first, and
the strings each rule needs, which let most lines skip most rules without changing any answer."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentmux.logs.model import Severity
from agentmux.logs.severity import DEFAULT_RULES, Classifier, needles

ERROR, WARNING, INFO, DEBUG = Severity.ERROR, Severity.WARNING, Severity.INFO, Severity.DEBUG


@pytest.mark.parametrize(("line", "severity"), [
    ("ValueError: invalid literal for int() with base 10: 'x'", ERROR),
    ("requests.exceptions.ConnectionError: Max retries exceeded", ERROR),
    ("Error: Cannot find module 'left-pad'", ERROR),
    ("error[E0382]: borrow of moved value: `x`", ERROR),
    ("src/app.py:12: error: Incompatible types in assignment", ERROR),
    ("FAILED tests/unit/test_parser.py::test_nested - AssertionError", ERROR),
    ("--- FAIL: TestParse (0.00s)", ERROR),
    ("2026-12-02 10:04:05 ERROR [db] connection lost", ERROR),
    ("FATAL: password authentication failed", ERROR),
    ("==== 1 failed, 41 passed in 2.31s ====", ERROR),
    ("3 errors generated.", ERROR),
    ("npm ERR! code ELIFECYCLE", ERROR),
    ("make: *** [Makefile:12: all] Error 2", ERROR),
    ("Process exited with status 2", ERROR),
    ("Command failed with exit code 1: npm test", ERROR),
    ("subprocess.CalledProcessError: returned non-zero exit status 1.", ERROR),
    ("bash: foo: command not found", ERROR),
    ("✗ error: build failed in module parser", ERROR),  # the demo agent's error marker
    ("thread 'main' panicked at src/main.rs:2:5: panic: boom", ERROR),
    ("WARN deprecated option --foo", WARNING),
    ("npm WARN deprecated inflight@1.0.6", WARNING),
    ("warning: unused variable `x`", WARNING),
    ("Warning: this is deprecated", WARNING),
    ("DeprecationWarning: the module is deprecated", WARNING),
    ("⚠ 2 vulnerabilities", WARNING),
    ("DEBUG loading config from /etc/app", DEBUG),
    ("[debug] cache miss", DEBUG),
    ("all 41 tests passed", INFO),
    ("0 failed, 41 passed", INFO),  # a count of none is no failure
    ("exited with status 0", INFO),
    ("errors are reported at the end", INFO),  # the word alone is not an error line
    ("terror: a film", INFO),
    ("warnings: none", INFO),
    ("", INFO),
])
def test_default_rules(line: str, severity: Severity) -> None:
    assert Classifier()("a", line) is severity
    assert Classifier(prefilter=False)("a", line) is severity


def test_a_traceback_is_an_error_as_a_block() -> None:
    lines = [
        ("$ python app.py", INFO),
        ("Traceback (most recent call last):", ERROR),
        ('  File "/app/main.py", line 3, in <module>', ERROR),
        ("    main()", ERROR),
        ("", ERROR),
        ("During handling of the above exception, another exception occurred:", ERROR),
        ('  File "/app/main.py", line 9, in main', ERROR),
        ("KeyError: 'port'", ERROR),  # the exception line ends the block
        ("server stopped", INFO),
        ("Traceback (most recent call last):", ERROR),
        ("The above exception was the direct cause of the following exception:", INFO),  # not indented: it ends
    ]
    classify = Classifier()
    assert [(line, classify("a", line)) for line, _ in lines] == lines


def test_a_traceback_is_kept_per_agent() -> None:
    classify = Classifier()
    assert classify("a", "Traceback (most recent call last):") is ERROR
    assert classify("b", "  indented, but b has no traceback") is INFO
    assert classify("a", '  File "x.py", line 1, in f') is ERROR
    classify.forget(["a"])
    assert classify("a", "  now a plain indented line") is INFO


def test_configured_rules_come_first_and_the_first_match_wins() -> None:
    classify = Classifier([(r"known flaky", INFO), (r"^\[slow\]", WARNING)])
    assert classify("a", "ERROR known flaky test, ignored") is INFO
    assert classify("a", "[slow] test took 30 s") is WARNING
    assert classify("a", "ERROR real failure") is ERROR
    assert Classifier([(r"boom", ERROR)], defaults=False)("a", "ERROR but no rule says so") is INFO
    assert Classifier([(r"boom", ERROR)], defaults=False)("a", "it went boom") is ERROR


# --- the strings a rule needs ------------------------------------------------------------------------------------


def test_needles_of_the_default_rules() -> None:
    found = [needles(pattern) for pattern, _ in DEFAULT_RULES]
    assert all(found), "every default rule names strings a matching line holds: most lines skip them all"
    assert found[0] == (("Traceback (most recent call last)",), ())
    assert found[5] is not None and "exit" in found[5][1]  # (?i): compared ignoring case
    assert found[7] == (("WARN", "Warning", "⚠"), ("warning:",))


@pytest.mark.parametrize(("pattern", "expected"), [
    (r"abc", (("abc",), ())),
    (r"a(?:bc|de)f", (("bc", "de"), ())),
    (r"(?i)Fatal", ((), ("fatal",))),
    (r"x(?i:Fatal)y", ((), ("fatal",))),
    (r"(?:ab)+c", (("ab",), ())),
    (r"(?:ab)*c", (("c",), ())),
    (r"\d+", None),
    (r"ab|\d", None),  # a branch with no string: a line may match without any
    (r"(?i)ſtop", ((), ("top",))),  # ignoring case, a character outside ASCII is not looked for (ſ is s to re)
])
def test_needles(pattern: str, expected: tuple[tuple[str, ...], tuple[str, ...]] | None) -> None:
    assert needles(pattern) == expected


RULE_PATTERNS = [r"\bpanic\b", r"(?i)timed? ?out", r"^\s*E\d{3}", r"x(?:yz|[0-9]+)w", r"(?i:fail)ed|broken",
                 r"[A-Z]{3,}!", r"(?i)straße", r"a+b+c", r"(?:ab){2,}", r"(?i)K"]
lines = st.text(st.sampled_from(list("aAbBcCeEfFiIkKlLnNoOrRsStTwWxXyYzZ ✗⚠İıſ\u212a:![]0123456789_.\t")), max_size=40)
sprinkled = st.builds(lambda parts: "".join(parts), st.lists(st.one_of(lines, st.sampled_from([
    "ERROR", "Error:", "error", "FAILED", "WARN", "warning:", "Warning", "DEBUG", "[debug]", "exit code 1", "1 failed",
    "Traceback (most recent call last)", "Exception", "npm ERR!", "panic", "TIMEOUT", "E123", "xyzw", "STRASSE",
    "straße", "abc", "ababc", "K", "\u212a", "ſ", "ı", "İ"])), max_size=6))


@settings(max_examples=600, deadline=None)
@given(texts=st.lists(st.one_of(lines, sprinkled), max_size=8), rules=st.lists(st.sampled_from(RULE_PATTERNS),
                                                                                max_size=3))
def test_skipping_rules_by_their_needles_never_changes_a_severity(texts: list[str], rules: list[str]) -> None:
    configured = [(pattern, ERROR if index % 2 else DEBUG) for index, pattern in enumerate(rules)]
    fast, plain = Classifier(configured), Classifier(configured, prefilter=False)
    for text in texts:
        assert fast("a", text) is plain("a", text), text


@pytest.mark.parametrize(("pattern", "line"), [
    (r"(?i:fail)ed", "faıled"),  # re takes the dotless ı for i, and the dotted İ
    (r"(?i:fail)ed", "FAİLed"),
    (r"(?i)exit status 1", "exit ſtatus 1"),  # the long s for s
    (r"(?i)kill", "\u212aILL"),  # the Kelvin sign for k
])
def test_a_line_re_matches_only_ignoring_case_outside_ascii_is_still_classified(pattern: str, line: str) -> None:
    assert re.search(pattern, line)
    assert Classifier([(pattern, ERROR)], defaults=False)("a", line) is ERROR
    assert Classifier([(pattern, ERROR)])("a", line) is ERROR


def test_needles_are_found_in_every_match() -> None:
    for pattern in [pattern for pattern, _ in DEFAULT_RULES] + RULE_PATTERNS:
        found = needles(pattern)
        if found is None:
            continue
        cased, caseless = found
        for sample in ["ERROR x", "Traceback (most recent call last):", "exit code 2", "Warning", "warning: x",
                       "⚠", "✗ x", "[debug] x", "3 failed", "FAIL: x", "KeyError:", "E123", "xyzw", "ababc",
                       "STRAßE", "panic", "TimedOut", "K"]:
            match = re.search(pattern, sample)
            if match:
                assert any(n in sample for n in cased) or any(n in sample.lower() for n in caseless), (pattern, sample)
