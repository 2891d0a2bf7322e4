"""Caption tokenisation as pycocoevalcap does it, with a pure-Python fallback.

* :func:`ptb_tokenize`: Stanford PTBTokenizer (``stanford-corenlp-3.4.1.jar``
  shipped in pycocoevalcap) with ``-preserveLines -lowerCase``, then removal
  of the tokens in pycocoevalcap's ``PUNCTUATIONS`` list, exactly as
  ``pycocoevalcap.tokenizer.ptbtokenizer.PTBTokenizer``. The jar is called
  directly (same class and flags) so that the chosen ``java`` is used and the
  temporary input file lives in the caller's run directory rather than inside
  the installed package. Unlike pycocoevalcap, the JVM is told to use UTF-8
  for files and stdout, so non-ASCII captions do not depend on the locale.
* :func:`fallback_tokenize`: pure-Python imitation of the above, used when no
  Java runtime exists.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .coco import pycocoevalcap_dir

__all__ = ["fallback_tokenize", "ptb_tokenize"]

PTB_JAR = "stanford-corenlp-3.4.1.jar"
PTB_CLASS = "edu.stanford.nlp.process.PTBTokenizer"
_LINE_BREAKS = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _punctuations() -> frozenset[str]:
    from pycocoevalcap.tokenizer.ptbtokenizer import PUNCTUATIONS

    return frozenset(PUNCTUATIONS)


def _strip_punctuation(line: str, punctuations: frozenset[str]) -> str:
    return " ".join(w for w in line.rstrip().split(" ") if w not in punctuations)


def ptb_tokenize(sentences: Sequence[str], *, java: str, run_dir: Path) -> list[str]:
    """Tokenise with Stanford's PTBTokenizer exactly as pycocoevalcap does.

    One JVM call for all sentences (one per line, ``-preserveLines``), input
    written to a uniquely named file in ``run_dir``. Line breaks inside a
    sentence become spaces (all kinds, so that no sentence can shift the ones
    after it). Note that PTB's lexer looks across line ends: a one-letter
    abbreviation ending a line ("... a.") keeps its period unless the next line
    starts with certain capitalised words ("The", "In", ...), so the result for
    one sentence can depend on the next one, as in pycocoevalcap.
    """
    text = "\n".join(_LINE_BREAKS.sub(" ", s) for s in sentences)
    with tempfile.NamedTemporaryFile("wb", dir=run_dir, prefix="ptb-", suffix=".txt", delete=False) as handle:
        handle.write(text.encode("utf-8"))
    input_path = Path(handle.name)
    jar = pycocoevalcap_dir() / "tokenizer" / PTB_JAR
    command = [
        java,
        "-Dfile.encoding=UTF-8",
        "-Dstdout.encoding=UTF-8",
        "-cp",
        str(jar),
        PTB_CLASS,
        "-preserveLines",
        "-lowerCase",
        str(input_path),
    ]
    proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=False, timeout=600)
    if proc.returncode != 0:
        err = " ".join(proc.stderr.decode("utf-8", "replace").split())[-600:]
        raise RuntimeError(f"PTBTokenizer failed (exit {proc.returncode}): {err}")
    lines = proc.stdout.decode("utf-8", errors="replace").split("\n")
    if len(lines) < len(sentences):
        raise RuntimeError(f"PTBTokenizer returned {len(lines)} lines for {len(sentences)} sentences")
    punctuations = _punctuations()
    return [_strip_punctuation(line, punctuations) for line in lines[: len(sentences)]]


# Pure-Python imitation of PTBTokenizer (-preserveLines -lowerCase) for captions.
_UNICODE_MAP = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u2032": "'",
        "\u2013": "--",
        "\u2014": "--",
        "\u2015": "--",
        "\u2026": "...",
        "\u00a0": " ",
    }
)
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_ABBREVIATIONS = frozenset("mr mrs ms dr st vs etc ca jr sr prof inc ltd mt".split())
_SPECIAL_WORDS = {
    "cannot": ["can", "not"],
    "gonna": ["gon", "na"],
    "gotta": ["got", "ta"],
    "wanna": ["wan", "na"],
    "y'all": ["y'", "all"],
    "'tis": ["'t", "is"],
    "'twas": ["'t", "was"],
    "rock'n'roll": ["rock", "'n'", "roll"],
}
# Capitalised words after which PTB 3.4.1 treats a one-letter abbreviation
# ("a.") as sentence-final and splits its period (probed with the jar): the
# word must follow after whitespace (line breaks included) and be followed by
# whitespace ("The," or "The" at the very end of the input do not count).
_SENTENCE_STARTER_AHEAD = re.compile(
    r"\s+"
    r"(?:The|In|A|An|It|He|She|We|They|This|That|There|These|At|As|But|So|If|When|"
    r"While|Some|Many|You|Her|Our|Their|What|After|Then|Now|Here|Mr\.)\s"
)
_NUMBER_AHEAD = re.compile(r"\s+\d")
_LOOKAHEAD_CHARS = 64
_CLITICS = ("n't", "'s", "'m", "'re", "'ve", "'ll", "'d")
_W = r"[^\W_]"
_FALLBACK_TOKEN = re.compile(
    rf"""
    (?P<special>'tis|'twas)(?!{_W})
  | (?P<acronym>[a-z](?:\.[a-z])+\.)
  | (?P<abbrev>[a-z]+\.)(?=$|[^\w.])
  | (?P<number>(?<!{_W})-?\d+(?:[.,:]\d+)+|(?<!{_W})-\d+)
  | (?P<clitic>(?:'(?:s|m|re|ve|ll|d)|n't))(?!{_W})
  | (?P<word>{_W}+(?:(?:[-./]|')(?={_W}){_W}+)*)
  | (?P<tag>[#@]{_W}+)
  | (?P<dashes>-{{2,}})
  | (?P<dots>\.{{3,}})
  | (?P<bangs>[!?]+)
  | (?P<other>\S)
    """,
    re.VERBOSE,
)


def _split_word(word: str) -> list[str]:
    if word in _SPECIAL_WORDS:
        return list(_SPECIAL_WORDS[word])
    for clitic in _CLITICS:
        if word.endswith(clitic) and len(word) > len(clitic):
            return [word[: -len(clitic)], clitic]
    return [word]


def _fallback_chunk(chunk: str, *, following: str) -> list[str]:
    """Tokens of one lower-cased whitespace chunk; ``following``: the raw text after it."""
    tokens: list[str] = []
    for match in _FALLBACK_TOKEN.finditer(chunk):
        kind, text = match.lastgroup, match.group()
        if kind == "special":
            tokens += _SPECIAL_WORDS[text]
        elif kind == "abbrev":
            stem = text[:-1]
            keep = (
                stem in _ABBREVIATIONS
                or (len(stem) == 1 and not _SENTENCE_STARTER_AHEAD.match(following))
                or (stem == "no" and _NUMBER_AHEAD.match(following) is not None)
            )
            tokens += [text] if keep else _split_word(stem) + ["."]
        elif kind == "word":
            tokens += _split_word(text)
        elif kind == "dashes":
            tokens.append("--")
        elif kind == "dots":
            tokens.append("...")
        elif kind == "other" and text in _BRACKETS:
            tokens.append(_BRACKETS[text])
        elif kind == "other" and text == '"':
            tokens.append("''")
        else:
            tokens.append(text)
    return tokens


def fallback_tokenize(sentences: Sequence[str]) -> list[str]:
    """Pure-Python stand-in for PTB tokenisation + punctuation removal.

    Used only when no Java runtime exists. Lower-cases, splits off
    punctuation, brackets (``-lrb-`` etc., which pycocoevalcap keeps),
    quotes, clitics (``do n't``, ``it 's``) and PTB's special words
    (``can not``, ``gon na``), keeps acronyms (``u.s.``), known abbreviations,
    numbers (``3.5``, ``5:30``) and hyphenated words together, then drops the
    tokens in pycocoevalcap's ``PUNCTUATIONS``. Like PTB it looks one word
    ahead, across sentence boundaries, for one-letter abbreviations. It
    agrees with PTBTokenizer on ordinary captions (checked in the tests);
    exotic input (emoticons, URLs, rare abbreviations) may differ.
    """
    punctuations = _punctuations()
    lines = [_LINE_BREAKS.sub(" ", s).translate(_UNICODE_MAP) for s in sentences]
    # PTB reads all lines as one text and looks ahead across line ends.
    text, start, out = "\n".join(lines), 0, []
    for line in lines:
        tokens: list[str] = []
        for chunk in re.finditer(r"\S+", line):
            end = start + chunk.end()
            following = text[end : end + _LOOKAHEAD_CHARS]
            tokens += _fallback_chunk(chunk.group().lower(), following=following)
        out.append(" ".join(t for t in tokens if t not in punctuations))
        start += len(line) + 1
    return out
