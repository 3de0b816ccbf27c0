"""What a log search asks (logs/query.py): terms and phrases, the literals a regular expression needs, the index
query that narrows, the exact check, and case folded exactly as SQLite's trigram index folds it."""

from __future__ import annotations

import re
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentmux.logs.query import (
    GRAM,
    LogQuery,
    covering_grams,
    fold,
    fold_table,
    index_safe,
    required_literals,
    split_terms,
)

# --- terms -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "terms"), [
    ("build failed", ("build", "failed")),
    ('build "connection refused"', ("build", "connection refused")),
    ("don't won't", ("don't", "won't")),  # a single quote is part of a word, not a quote
    ("I'll fix it", ("I'll", "fix", "it")),
    ('"open quote', ("open quote",)),  # a phrase left open takes the rest
    ('a "" b "  "', ("a", "b")),  # empty phrases ask nothing
    (r"C:\path\to \d+", (r"C:\path\to", r"\d+")),  # backslashes are kept as typed
    ("  ", ()),
])
def test_words_and_quoted_phrases(text: str, terms: tuple[str, ...]) -> None:
    assert split_terms(text) == terms


# --- regular expressions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "sample", "literals"), [
    (r"Traceback \(most", "Traceback (most recent call last):", ["Traceback (most"]),
    (r"conn\w+ refused", "connection refused", ["conn", " refused"]),
    (r"timeout after \d+ ?ms", "timeout after 30ms", ["timeout after "]),
    (r"ab", "ab", []),  # too short for the index
    (r"error|warning", "warning", []),  # an alternation at the top requires neither side
    (r"[A-Z]+Error: x", "OSError: x", ["Error: x"]),
    (r"colou?r", "color", ["colo"]),  # the u is optional: it ends the run
    (r"abc*def", "abdef", ["def"]),  # c* may be nothing: "ab" is too short, "def" stays
    (r"(?x) a b c  d", "abcd", ["abcd"]),  # verbose: spaces are not literals
])
def test_literals_a_pattern_requires(pattern: str, sample: str, literals: list[str]) -> None:
    assert required_literals(pattern) == literals
    found = re.search(pattern, sample)
    assert found is not None and all(literal in found.group(0) for literal in literals)


def test_ignoring_case_a_literal_is_cut_where_re_and_the_index_disagree() -> None:
    # `re` takes i for ı and İ, which the index keeps apart: the index could not find "connectıon" from "conni..."
    assert not index_safe("i") and not index_safe("I")
    assert index_safe("e") and index_safe("s") and index_safe("k")  # ſ and the Kelvin sign fold to s and k there too
    assert required_literals("connection refused", ignore_case=True) == ["connect", "on refused"]
    assert required_literals("(?i)connection refused") == ["connect", "on refused"]  # the flag inside the pattern
    assert required_literals("connection refused") == ["connection refused"]


def test_a_bad_pattern_is_refused_before_any_query() -> None:
    with pytest.raises(ValueError, match="is not a regular expression"):
        LogQuery(regex="(unclosed")


# --- the index query -------------------------------------------------------------------------------------------


def test_covering_grams_are_every_trigram_of_the_term_once() -> None:
    assert covering_grams("Connection") == ["con", "onn", "nne", "nec", "ect", "cti", "tio", "ion"]
    assert covering_grams("abcdef") == ["abc", "bcd", "cde", "def"]
    assert covering_grams("aaaaa") == ["aaa"]
    assert covering_grams("ab") == []
    for term in ["abcdefg", "x" * 10, "日本語のテキスト"]:
        grams = covering_grams(term)
        covered = set()
        for gram in grams:
            start = fold(term).find(gram)
            while start >= 0:
                covered.update(range(start, start + GRAM))
                start = fold(term).find(gram, start + 1)
        assert covered == set(range(len(term)))


def test_the_index_query_holds_every_term_and_required_literal() -> None:
    query = LogQuery(text='Build "conn refused" ok', regex=r"exit \d+ after")
    match = query.fts_match()
    assert match is not None
    for gram in ["bui", "ild", "con", "n r", "efu", "sed", "exi", " af", "ter"]:
        assert f'"{gram}"' in match
    assert LogQuery(text="ok").fts_match() is None  # two letters: nothing the index can look up
    assert LogQuery(regex=r"\d+|x").fts_match() is None
    assert LogQuery(text='say ""hi""').fts_match() is not None  # quotes in a gram are escaped


def test_the_exact_check() -> None:
    query = LogQuery(text='conn "Refused by"', regex=r"port \d+")
    assert query.accepts("Connection REFUSED BY peer on port 80")
    assert not query.accepts("Connection refused on port 80")  # the phrase is kept whole
    assert not query.accepts("Connection refused by peer on port x")
    assert LogQuery(regex="Error").accepts("Error: x") and not LogQuery(regex="Error").accepts("error: x")
    assert LogQuery(regex="Error", ignore_case=True).accepts("error: x")
    assert LogQuery().accepts("anything")


def test_spans_for_highlighting() -> None:
    query = LogQuery(text="err", regex=r"\d+")
    assert query.spans("ERR 12 err") == [(0, 3), (4, 6), (7, 10)]
    assert LogQuery(text="straße").spans("STRASSE Straße") == [(8, 14)]  # folding keeps lengths: positions hold
    assert LogQuery(text="ab").spans("abab") == [(0, 4)]  # touching spans merge


# --- case folding, as the index does it -------------------------------------------------------------------------


def sqlite_fold(chars: list[str]) -> dict[str, str]:
    """How SQLite's trigram tokenizer folds each character (asked of it, character by character)."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5 (x, tokenize = 'trigram', detail = 'full')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab (t, 'instance')")
    db.executemany("INSERT INTO t (rowid, x) VALUES (?, ?)", ((ord(char), char * 3) for char in chars))
    folded = {chr(doc): term[0] for term, doc in db.execute("SELECT term, doc FROM v")}
    db.close()
    return folded


def test_folding_is_sqlites_for_every_character_of_the_first_two_planes() -> None:
    chars = [chr(cp) for cp in range(1, 0x20000) if not 0xD800 <= cp < 0xE000]
    theirs = sqlite_fold(chars)
    mine = {char: fold(char) for char in chars}
    assert {char for char in chars if mine[char] != theirs[char]} == set()
    # and in context (str.lower folds a final Σ by its neighbours; fold does not)
    assert fold("ΑΣ ΑΣΑ") == "".join(theirs[char] for char in "ΑΣ ΑΣΑ")
    assert all(len(fold(char)) == 1 for char in chars)


def test_fold_table_is_the_few_characters_that_change() -> None:
    table = fold_table()
    assert table[ord("A")] == "a" and table[ord("Ä")] == "ä" and table[ord("ſ")] == "s"
    assert ord("ß") not in table and ord("日") not in table  # ß stays: like grep -i, ß is not ss


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=30))
def test_fold_keeps_lengths_and_is_idempotent(text: str) -> None:
    folded = fold(text)
    assert len(folded) == len(text)
    assert fold(folded) == folded
