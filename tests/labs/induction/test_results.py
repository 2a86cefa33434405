"""attnlab.labs.induction.results: one model's `--json` entry and the lab's, exactly the contract."""

import json

import torch

from induction_helpers import CONTRACT
from train_helpers import one_thread  # noqa: E402,F401 (an autouse fixture)

from attnlab.cli import main
from attnlab.labs.induction.ablation import CausalCheck
from attnlab.labs.induction.results import InductionResult, ModelResult
from attnlab.labs.induction.scores import HeadScores


def test_induction_cli_json_has_exactly_the_contract(capsys, tmp_path):
    rc = main(["induction", "--steps", "2", "--eval-interval", "1", "--layers", "2", "--out-dir", str(tmp_path),
               "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    data = json.loads(out)
    assert list(data) == ["models"] and len(data["models"]) == 1
    model = data["models"][0]
    assert set(model) == CONTRACT | {"path_removal"} and model["layers"] == 2
    assert set(model["path_removal"]) == {"key", "query", "value"}
    assert set(model["best_induction"]) == {"layer", "head", "score"}
    assert set(model["best_previous"]) == {"layer", "head", "score"}


def model_result(path_removal=None) -> ModelResult:
    scores = HeadScores(previous=torch.tensor([[0.1, 0.87654], [0.2, 0.3]]),
                        induction=torch.tensor([[0.0, 0.1], [0.912345, 0.4]]), duplicate=torch.zeros(2, 2))
    check = CausalCheck(baseline=0.5, detected=[(0, 1), (1, 0)], ablate_detected=2.345678,
                        random_losses=[0.7, 0.9, 0.511111], path_removal=path_removal)
    return ModelResult(2, [], scores, 3.333333, 0.456789, check, 150, 1.0)


def test_a_models_entry_is_rounded_to_four_places_by_hand():
    removal = {"key": 3.000049, "query": 0.5, "value": 0.612345}
    r = model_result(removal)
    assert r.summary() == {"layers": 2, "best_induction": {"layer": 1, "head": 0, "score": 0.9123},
                           "best_previous": {"layer": 0, "head": 1, "score": 0.8765},
                           "first_copy_loss": 3.3333, "second_copy_loss": 0.4568, "ablate_detected": 2.3457,
                           "ablate_random": 0.7,  # the median of the three draws
                           "formed_at_step": 150, "path_removal": {"key": 3.0, "query": 0.5, "value": 0.6123}}
    assert "path_removal" not in model_result().summary()  # a 1-layer model has no path to remove
    lab = InductionResult(settings=None, models=[model_result(), r], seconds=2.0)
    assert lab.to_json() == {"models": [model_result().summary(), r.summary()]}
    assert set(lab.to_json()["models"][0]) == CONTRACT
