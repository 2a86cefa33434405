"""Imported once by test_failing_writes' fork server, so that each child starts at once: what a
first start of `train` and `export-hf` loads (torch's meta-device references for the parameter
count, matplotlib for loss.png, transformers for the export)."""

import matplotlib.pyplot  # noqa: F401
import safetensors.torch  # noqa: F401

import attnlab.cli
import attnlab.interop.export  # noqa: F401
import attnlab.train.gpt  # noqa: F401
import attnlab.viz.loss  # noqa: F401
from attnlab.config import GPTConfig
from attnlab.model.memory import gpt_parameter_count

attnlab.cli.build_parser()
gpt_parameter_count(GPTConfig(vocab_size=8, max_seq_len=8, d_model=8, n_heads=2, n_layers=1))
try:
    import transformers  # noqa: F401
except ImportError:
    pass
