"""Blind indexes: find possible duplicates without plaintext.

A keyed hash (HMAC-SHA256 with a key from configuration, not the KEK) of normalised values. Two
signals about "Jànssen, P." born 1948 in 4531 AB and "janssen p" born 1948 in 4531ab get the same
index; without the key nobody can test guesses against the stored hashes.
"""

from __future__ import annotations

import hmac
import re
import unicodedata

_PUNCTUATION = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")


def normalise(value: str) -> str:
    """Case, accents, punctuation and spacing do not matter: 'Jànssen,  P.' → 'janssen p'."""
    letters = value.casefold()
    if not letters.isascii():  # only then are there accents to take off
        decomposed = unicodedata.normalize("NFKD", letters)
        letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", letters)).strip()


def normalise_postcode(postcode: str) -> str:
    """Dutch postcodes: '4531 ab' → '4531AB'."""
    return _SPACES.sub("", postcode).upper()


class BlindIndex:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a blind-index key needs at least 32 bytes")
        self._key = key

    def digest(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode()
        return hmac.digest(self._key, message, "sha256").hex()  # one call into OpenSSL

    def person(self, name: str, birth_year: int | None, postcode: str | None) -> str:
        return self.digest(
            normalise(name), str(birth_year or ""), normalise_postcode(postcode or "")
        )
