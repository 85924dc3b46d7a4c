"""Finding English sentences in text meant to be Chinese: the check behind "a Chinese page shows no English".

Names are not sentences: file names, model names, addresses, paths, environment variables and codes (one
token each) pass, and so do two English words side by side ("HTTP 404", "NVIDIA GPU"). Three or more words
in a row are a sentence, or a piece of one."""
from __future__ import annotations

import re

_ADDRESS_OR_PATH = re.compile(r"\w+://\S+|(?:[A-Za-z]:)?[/\\]\S+")
_SENTENCE = re.compile(r"(?<![\w./\\-])[A-Za-z]{2,}(?:[ ,]+[A-Za-z]{2,}){2,}(?![\w./\\-])")


def english_sentences(text: str) -> list[str]:
    """Each run of three or more English words in ``text``, addresses and paths left out."""
    return _SENTENCE.findall(_ADDRESS_OR_PATH.sub(" ", text))
