"""Texts every tokenizer test round-trips."""

from hypothesis import strategies as st

# Text as it can come out of a UTF-8 file: any code point except lone surrogates.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
SAMPLES = ["", "hello world", "🙂👍🏽 emoji", "대한민국 헌법 제1조", "tabs\tand\nnewlines  ", "a\u0301 ﬁ"]
