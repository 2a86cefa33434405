"""Why tools: does the model need this head, and does attention explain?

Each function returns plain data (the JSON of its command), so a notebook can use it:

- `logit_lens(model, idx, tokenizer)` (lens.py): the next-token guess after every layer;
- `ablate_heads(model, x, y)` (ablate.py): the loss change with each head zeroed / mean-replaced;
- `why(model, idx, i, j, vs)` (answers.py): raw weight, rollout, flow, norm and ablation for one pair;
- `patch_tables(model, pair, points)` (patch.py) and `attribution_tables` (patch_gradient.py):
  activation patching, exactly and from gradients, for a clean/corrupt `Pair` (logit_diff.py);
- `path_patch(model, pair, path)` (paths.py): one sender's output into one receiver's k, q or v;
- `logit_attribution(model, idx, position, answer, wrong)` (attribute.py): direct logit attribution;
- `attention_rollout`, `attention_flow` (rollout.py) and `contribution_norms` (norms.py): the
  pure arithmetic underneath, on weights you already have.

Everything that looks inside a model does it through `attnlab.record` and `attnlab.intervene`,
on the model's own forward pass.
"""

from attnlab.why.ablate import ablate_heads, ablated_forward, ablated_loss
from attnlab.why.lens import Lens, logit_lens
from attnlab.look.norms import contribution_norms, shares
from attnlab.why.rollout import attention_flow, attention_rollout, flow_graph
from attnlab.why.answers import why

__all__ = ["logit_lens", "Lens", "ablate_heads", "ablated_forward", "ablated_loss", "why", "attention_rollout",
           "attention_flow", "flow_graph", "contribution_norms", "shares"]
