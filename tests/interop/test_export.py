"""export-hf / import-hf: attnlab runs and Hugging Face GPT-2 folders, checked against transformers.

Nothing is downloaded: runs are trained for a few steps here or written from a random model,
Hugging Face folders come from `save_pretrained` of models built from a config.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never the network

import shutil
import sys
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

transformers = pytest.importorskip("transformers")
from safetensors.torch import load_file, save_file  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402

from attnlab.runs import checkpoint as ckpt  # noqa: E402
from attnlab.io import load_tensors  # noqa: E402
from attnlab.config import MODEL_FIELDS, GPTConfig, TrainConfig  # noqa: E402
from attnlab.interop import export as bridge  # noqa: E402
from attnlab.model.gpt import GPT  # noqa: E402
from attnlab.tokenizers import build_tokenizer  # noqa: E402
from attnlab.tokenizers.gpt2 import gpt2_files  # noqa: E402

from train_helpers import TEXT, one_thread  # noqa: E402,F401 (an autouse fixture)

from attnlab.cli import main as cli_main  # noqa: E402

# the char vocabulary below must hold every character of the texts that are encoded
KOREAN = "세계 안녕!\n"
CHAR_TEXT = TEXT + KOREAN * 20
ROUND_TRIP_TEXT = "First 세계  안녕!\n\nspeak,  speak.\n"
PROMPT = "All:\n"  # 5 characters + 30 new tokens fit the 48-position model


def write_run(run_dir: Path, model_config: GPTConfig, tokenizer, seed: int = 0) -> Path:
    """A run folder holding a random model, written with the training helper's own functions."""
    torch.manual_seed(seed)
    model = GPT(model_config)
    with torch.no_grad():  # random LayerNorms and biases, so every tensor is checked
        for name, p in model.named_parameters():
            if "ln" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    fields = {name: getattr(model_config, name) for name in MODEL_FIELDS if name != "block_size"}
    train_config = TrainConfig(tokenizer=tokenizer.name, block_size=model_config.max_seq_len, **fields)
    assert train_config.model_config(model_config.vocab_size) == model_config
    ckpt.save_run_config(run_dir, model_config, train_config, tokenizer)
    ckpt.save_checkpoint(run_dir, model, {}, {"step": 0})
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """char: trained for a few steps by `attnlab train`; bpe, gpt2, untied: random models."""
    root = tmp_path_factory.mktemp("runs")
    corpus = root / "corpus.txt"
    corpus.write_text(CHAR_TEXT, encoding="utf-8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    flags = ["--n-layers", "2", "--n-heads", "2", "--d-model", "32", "--block-size", "48", "--batch-size", "8",
             "--max-iters", "30", "--eval-interval", "30", "--eval-iters", "1", "--warmup-iters", "2",
             "--learning-rate", "1e-2", "--sample-tokens", "0", "--no-progress", "--device", "cpu"]
    assert cli_main(["train", "--corpus", str(corpus), "--out-dir", str(root), "--name", "char", *flags]) == 0
    bpe = build_tokenizer("bpe", TEXT + KOREAN, vocab_size=300)
    small = dict(max_seq_len=48, d_model=24, n_heads=2, n_layers=2)
    paths = {
        "char": root / "char",
        "bpe": write_run(root / "bpe", GPTConfig(vocab_size=300, activation="gelu", **small), bpe, seed=1),
        "gpt2": write_run(root / "gpt2", GPTConfig(vocab_size=50257, max_seq_len=48, d_model=8, n_heads=2,
                                                   n_layers=1), build_tokenizer("gpt2"), seed=2),
        "untied": write_run(root / "untied", GPTConfig(vocab_size=300, activation="relu", tie_weights=False,
                                                       dropout=0.1, d_ff=40, **small), bpe, seed=3),
        "seed": write_run(root / "seed", GPTConfig.seed(vocab_size=300, max_seq_len=16), bpe, seed=4),
    }
    torch.set_num_threads(threads)
    return paths


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exported")
    for name in ("char", "bpe", "gpt2", "untied"):
        assert cli_main(["export-hf", "--run", str(runs[name]), "--out", str(root / name)]) == 0
    return {name: root / name for name in ("char", "bpe", "gpt2", "untied")}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("attnlab:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- export ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["char", "bpe"])
def test_transformers_generates_what_attnlab_generates(runs, exported, name):
    ours, tokenizer = ckpt.load_model(runs[name])
    hf = transformers.GPT2LMHeadModel.from_pretrained(exported[name], local_files_only=True).eval()
    auto = transformers.AutoModelForCausalLM.from_pretrained(exported[name], local_files_only=True)
    assert type(auto).__name__ == "GPT2LMHeadModel"
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(exported[name], local_files_only=True)
    ids = tokenizer.encode(PROMPT)
    assert hf_tokenizer(PROMPT)["input_ids"] == ids
    idx = torch.tensor([ids])  # (1, T)
    probe = torch.randint(0, ours.config.vocab_size, (2, 48), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (ours(probe)[0] - hf(probe).logits).abs().max().item() <= 1e-5
        ours_ids = ours.generate(idx, 30, temperature=0.0)[0].tolist()  # greedy
        hf_ids = hf.generate(idx, max_new_tokens=30, min_new_tokens=30, do_sample=False)[0].tolist()
    assert ours_ids == hf_ids and len(ours_ids) == len(ids) + 30
    pipe = transformers.pipeline("text-generation", model=str(exported[name]), device="cpu")
    text = pipe(PROMPT, max_new_tokens=30, min_new_tokens=30, do_sample=False)[0]["generated_text"]
    assert text == tokenizer.decode(ours_ids)
    assert hf_tokenizer.decode(hf_tokenizer.encode(ROUND_TRIP_TEXT)) == ROUND_TRIP_TEXT


def test_char_tokenizer_round_trips_exactly(exported):
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(exported["char"], local_files_only=True)
    for text in ["", " ", "\n\n", "  speak  ", KOREAN * 3, ROUND_TRIP_TEXT]:
        assert hf_tokenizer.decode(hf_tokenizer.encode(text)) == text


def test_gpt2_tokenizer_files_are_gpt2s(runs, exported):
    folder = exported["gpt2"]
    vocab, merges = gpt2_files()
    assert (folder / "vocab.json").read_bytes() == vocab.read_bytes()
    assert (folder / "merges.txt").read_bytes() == merges.read_bytes()
    ours, tokenizer = ckpt.load_model(runs["gpt2"])
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert hf_tokenizer.eos_token_id == 50256
    assert transformers.GenerationConfig.from_pretrained(folder, local_files_only=True).eos_token_id == 50256
    text = "Hello world, 세계! It's  done.\n"
    assert hf_tokenizer(text)["input_ids"] == tokenizer.encode(text) == [15496, 995, 11, 23821, 226, 116, 166,
                                                                         111, 226, 0, 632, 338, 220, 1760, 13, 198]
    hf = transformers.GPT2LMHeadModel.from_pretrained(folder, local_files_only=True).eval()
    idx = torch.tensor([tokenizer.encode(text)])
    with torch.no_grad():
        assert (ours(idx)[0] - hf(idx).logits).abs().max().item() <= 1e-5


def test_untied_head_exports(runs, exported):
    ours, _ = ckpt.load_model(runs["untied"])
    hf = transformers.GPT2LMHeadModel.from_pretrained(exported["untied"], local_files_only=True).eval()
    assert hf.config.tie_word_embeddings is False and hf.config.activation_function == "relu"
    idx = torch.randint(0, 300, (2, 48), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (ours(idx)[0] - hf(idx).logits).abs().max().item() <= 1e-5


@pytest.mark.parametrize("name", ["char", "bpe", "gpt2", "untied"])
def test_round_trip_is_bit_identical(runs, exported, tmp_path, name):
    assert cli_main(["import-hf", str(exported[name]), "--out", str(tmp_path / "back")]) == 0
    for file in ("config.json", "tokenizer/attnlab_tokenizer.json"):
        assert (tmp_path / "back" / file).read_bytes() == (runs[name] / file).read_bytes(), file
    back_weights, run_weights = (load_tensors(ckpt.checkpoint_dir(run) / "model.safetensors")
                                 for run in (tmp_path / "back", runs[name]))
    assert back_weights.keys() == run_weights.keys()
    assert all(torch.equal(back_weights[k], run_weights[k]) for k in run_weights)
    back, _ = ckpt.load_model(tmp_path / "back")
    ours, _ = ckpt.load_model(runs[name])
    for (key, a), (_, b) in zip(ours.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), key


def test_what_gpt2_cannot_express_is_refused(runs, tmp_path, capsys):
    out = tmp_path / "seed-hf"
    assert cli_main(["export-hf", "--run", str(runs["seed"]), "--out", str(out)]) == 2
    line = one_error_line(capsys)
    assert "qkv_bias=False" in line and "lm_head_bias=True" in line
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_export_refuses_a_non_empty_out_and_leaves_nothing_on_failure(runs, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert cli_main(["export-hf", "--run", str(runs["bpe"]), "--out", str(out)]) == 2
    assert "not empty" in one_error_line(capsys)
    assert cli_main(["export-hf", "--run", str(runs["bpe"]), "--out", str(out), "--overwrite"]) == 2
    assert "refusing" in one_error_line(capsys) and (out / "notes.txt").read_text() == "mine"

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(bridge, "save_tensors", disk_full)
    assert cli_main(["export-hf", "--run", str(runs["bpe"]), "--out", str(tmp_path / "new")]) == 2
    assert "No space left" in one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no half-written folder, no temp folder


def test_export_overwrites_a_model_folder(runs, exported, tmp_path):
    out = tmp_path / "model"
    shutil.copytree(exported["char"], out)
    assert cli_main(["export-hf", "--run", str(runs["bpe"]), "--out", str(out), "--overwrite"]) == 0
    assert (out / "model.safetensors").read_bytes() == (exported["bpe"] / "model.safetensors").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


# --- import ----------------------------------------------------------------------------------

def random_hf_model(vocab_size: int, tied: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.GPT2Config(vocab_size=vocab_size, n_positions=32, n_embd=24, n_layer=2, n_head=3,
                                     tie_word_embeddings=tied, bos_token_id=None, eos_token_id=None)
    hf = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if "ln" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return hf


def save_bpe_folder(folder: Path, vocab_size: int = 300, tied: bool = True) -> transformers.GPT2LMHeadModel:
    hf = random_hf_model(vocab_size, tied)
    hf.save_pretrained(folder)
    bpe = build_tokenizer("bpe", TEXT + KOREAN, vocab_size=300)
    transformers.PreTrainedTokenizerFast(tokenizer_object=bpe.tokenizer).save_pretrained(folder)
    return hf


def assert_same_logits(run_dir: Path, hf, vocab_size: int) -> None:
    ours, _ = ckpt.load_model(run_dir)
    idx = torch.randint(0, vocab_size, (2, 32), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (ours(idx)[0] - hf(idx).logits).abs().max().item() <= 1e-5


@pytest.mark.parametrize("tied", [True, False])
def test_import_a_save_pretrained_folder(tmp_path, tied, capsys):
    hf = save_bpe_folder(tmp_path / "hf", tied=tied)
    assert cli_main(["import-hf", str(tmp_path / "hf"), "--out", str(tmp_path / "run")]) == 0
    assert "bpe tokenizer" in capsys.readouterr().out
    assert_same_logits(tmp_path / "run", hf, 300)
    assert cli_main(["generate", "--run", str(tmp_path / "run"), "--prompt", "First", "--max-new-tokens", "5",
                     "--device", "cpu"]) == 0


def test_import_pytorch_bin_with_gpt2_vocab_files(tmp_path):
    """An older folder: pytorch_model.bin with bare GPT2Model names, vocab.json + merges.txt."""
    hf = random_hf_model(50257, seed=1)
    folder = tmp_path / "hf"
    hf.config.save_pretrained(folder)
    bare = {k.removeprefix("transformer."): v for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    torch.save(bare, folder / "pytorch_model.bin")
    vocab, merges = gpt2_files()
    shutil.copyfile(vocab, folder / "vocab.json")
    shutil.copyfile(merges, folder / "merges.txt")
    assert cli_main(["import-hf", str(folder), "--out", str(tmp_path / "run")]) == 0
    assert ckpt.read_run_config(tmp_path / "run")[2] == "gpt2"
    assert_same_logits(tmp_path / "run", hf, 50257)


def test_import_wraps_any_other_tokenizer_json(tmp_path):
    words = ["[UNK]", "hello", "world", "세계", *[f"w{i}" for i in range(46)]]
    hf_tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    hf_tok.pre_tokenizer = pre_tokenizers.Whitespace()
    hf = random_hf_model(len(words))
    hf.save_pretrained(tmp_path / "hf")
    transformers.PreTrainedTokenizerFast(tokenizer_object=hf_tok).save_pretrained(tmp_path / "hf")
    assert cli_main(["import-hf", str(tmp_path / "hf"), "--out", str(tmp_path / "run")]) == 0
    ours, tokenizer = ckpt.load_model(tmp_path / "run")
    assert tokenizer.name == "hf" and tokenizer.encode("hello 세계 moon") == [1, 3, 0]
    assert tokenizer.token_strings([1, 3]) == ["hello", "세계"]
    assert_same_logits(tmp_path / "run", hf, len(words))


def bert_folder(folder: Path) -> None:
    transformers.BertConfig(vocab_size=30, hidden_size=12, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=24).save_pretrained(folder)


def narrower_weights(folder: Path) -> None:
    save_bpe_folder(folder)  # config.json says n_embd 24
    narrow = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=300, n_positions=32, n_embd=12,
                                                                   n_layer=2, n_head=3))
    save_file({k: v for k, v in narrow.state_dict().items() if k != "lm_head.weight"},
              str(folder / "model.safetensors"))


def one_layer_missing(folder: Path) -> None:
    save_bpe_folder(folder)
    tensors = load_file(str(folder / "model.safetensors"))
    save_file({k: v for k, v in tensors.items() if ".h.1." not in k}, str(folder / "model.safetensors"))


@pytest.mark.parametrize("make,message", [
    (lambda folder: folder.mkdir(), "has no config.json"),
    (bert_folder, "model_type is 'bert'"),
    (lambda folder: (save_bpe_folder(folder), (folder / "model.safetensors").unlink()), "has no weights"),
    (lambda folder: (save_bpe_folder(folder), (folder / "model.safetensors").write_bytes(b"garbage")),
     "not a valid safetensors file"),
    (narrower_weights, "expected shape"),
    (one_layer_missing, "missing ['transformer.h.1."),
    (lambda folder: save_bpe_folder(folder, vocab_size=301), "the tokenizer has 300 tokens"),
    (lambda folder: (save_bpe_folder(folder), (folder / "tokenizer.json").unlink()), "has no tokenizer"),
])
def test_bad_folders_are_one_line_errors_and_write_nothing(tmp_path, capsys, make, message):
    folder = tmp_path / "hf"
    make(folder)
    out = tmp_path / "runs" / "imported"
    assert cli_main(["import-hf", str(folder), "--out", str(out)]) == 2
    assert message in one_error_line(capsys)
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))


def test_import_refuses_a_non_empty_out(tmp_path, capsys):
    save_bpe_folder(tmp_path / "hf")
    out = tmp_path / "run"
    assert cli_main(["import-hf", str(tmp_path / "hf"), "--out", str(out)]) == 0
    weights = load_tensors(ckpt.checkpoint_dir(out) / "model.safetensors")
    assert cli_main(["import-hf", str(tmp_path / "hf"), "--out", str(out)]) == 2
    assert "--overwrite" in one_error_line(capsys)
    assert cli_main(["import-hf", str(tmp_path / "hf"), "--out", str(out), "--overwrite"]) == 0
    again = load_tensors(ckpt.checkpoint_dir(out) / "model.safetensors")
    assert again.keys() == weights.keys() and all(torch.equal(again[k], weights[k]) for k in weights)
