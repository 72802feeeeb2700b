"""Normalisation and tokenisation of playlist titles.

``normalise_title`` maps titles that people write differently for the same
intent to one string: "Chill Vibes!!", "chill  vibes" and "CHILLL vibes 🌴"
all become "chill vibes".
"""

from __future__ import annotations

import re
import unicodedata

# Apostrophes are removed so that "80's" and "80s", "don't" and "dont" match.
_APOSTROPHES = frozenset("'\u2019\u02bc`\u00b4")
_REPEATED_LETTER = re.compile(r"([^\W\d_])\1{2,}")
_DOUBLE_LETTER = re.compile(r"([^\W\d_])\1")


def normalise_title(title: str | None) -> str:
    """Normalise a playlist title for matching.

    Steps:

    1. Unicode NFKC, then case folding (lower case that also maps "ß" to "ss").
    2. Apostrophes are removed.
    3. Every character other than a letter, a decimal digit or a combining
       mark on a letter becomes a space. Letters of every script stay, and
       punctuation, symbols and emoji go.
    4. Runs of three or more identical letters are shortened to two, so
       "chilll" and "chillll" become "chill", and "chill" stays.
    5. Whitespace is collapsed.

    Accents are kept, so "música" and "musica" differ.

    Returns "" for None, and for a title with no letter or digit, such as
    one made only of emoji.
    """
    if not title:
        return ""
    text = unicodedata.normalize("NFKC", title).casefold()
    kept = []
    after_letter = False
    for char in text:
        if char in _APOSTROPHES:
            continue
        category = unicodedata.category(char)
        # A combining mark is kept only on a letter, as in Devanagari or a
        # decomposed accent. Elsewhere it belongs to an emoji or a symbol,
        # such as the variation selector in "☀️".
        keep = category[0] == "L" or category == "Nd" or (category[0] == "M" and after_letter)
        kept.append(char if keep else " ")
        after_letter = keep and category[0] in "LM"
    text = _REPEATED_LETTER.sub(r"\1\1", "".join(kept))
    return " ".join(text.split())


def title_words(title: str | None) -> list[str]:
    """Return the words of the normalised title, in order; [] when it is empty."""
    return normalise_title(title).split()


def single_letter_variant(word: str) -> str:
    """Return ``word`` with every doubled letter written once ("yess" -> "yes").

    Normalisation cannot tell whether "yessss" means "yes" or "yess", so it
    keeps two letters. A caller that does not know the two-letter form can
    look this variant up.
    """
    return _DOUBLE_LETTER.sub(r"\1", word)
