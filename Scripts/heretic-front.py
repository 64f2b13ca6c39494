#!/usr/bin/env python3
"""Write the Pareto front of a finished (or stopped) heretic study as merged Hugging Face models.

heretic (pip `heretic-llm`, 1.4) keeps its trials in `checkpoints/<model>.jsonl` (an Optuna journal) and
offers its front only through an interactive menu. This script reads that journal, takes heretic's own
front (completed trials not dominated in (refusals, KL divergence) on heretic's evaluation prompts, as
heretic lists them), and for each trial re-applies heretic's edit with heretic's own `Model.abliterate`
and saves the merged model, so that `abliterate eval` can score every point with the same evaluator and
the same held-out prompts as our own plans (Docs/results.md, "Head to head with heretic").

Run it in the directory heretic ran in (its config.toml is read the same way):

    cd h2h/A && python3 /path/to/Scripts/heretic-front.py --output front

Writes front/trial-N/ (model, tokenizer) for each front trial and front/front.json (trial, heretic's
refusals and KL, its parameters). The refusal directions are recomputed from heretic's prompts as heretic
computes them (per-layer difference of means, normalized; with `orthogonalize_direction`, the component
along the normalized harmless mean removed and normalized again); `--check` re-scores the first front
trial with heretic's own evaluator and prints both, so a mismatch would show.
"""
import argparse
import json
import math
import os
import sys

import optuna
import torch
import torch.nn.functional as F
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", required=True, help="a new directory for the front's models")
    parser.add_argument("--check", action="store_true", help="re-score the first front trial with heretic's evaluator")
    args = parser.parse_args()
    if os.path.exists(args.output):
        sys.exit(f"heretic-front: {args.output} exists; give a new directory")

    # heretic's Settings parse the command line; hand them none.
    sys.argv = sys.argv[:1]
    from heretic.config import Settings
    from heretic.evaluator import Evaluator
    from heretic.model import AbliterationParameters, Model
    from heretic.utils import load_prompts

    settings = Settings()
    journal = os.path.join(
        settings.study_checkpoint_dir,
        "".join(c if (c.isalnum() or c in ["_", "-"]) else "--" for c in settings.model) + ".jsonl",
    )
    if not os.path.isfile(journal):
        sys.exit(f"heretic-front: no study journal at {journal}")
    storage = JournalStorage(JournalFileBackend(journal))
    study = optuna.load_study(study_name="heretic", storage=storage)
    completed = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if not completed:
        sys.exit(f"heretic-front: {journal} holds no completed trial")

    # heretic's front: sorted by (refusals, KL), each kept when its KL is below every earlier one's.
    front, best = [], math.inf
    for t in sorted(completed, key=lambda t: (t.user_attrs["refusals"], t.user_attrs["kl_divergence"])):
        if t.user_attrs["kl_divergence"] < best:
            best = t.user_attrs["kl_divergence"]
            front.append(t)
    print(f"{len(completed)} completed trials, {len(front)} on the front", flush=True)

    model = Model(settings)
    good = model.get_residuals_mean(load_prompts(settings, settings.good_prompts))
    bad = model.get_residuals_mean(load_prompts(settings, settings.bad_prompts))
    directions = F.normalize(bad - good, p=2, dim=1)
    if settings.orthogonalize_direction:
        g = F.normalize(good, p=2, dim=1)
        directions = F.normalize(directions - (directions * g).sum(dim=1, keepdim=True) * g, p=2, dim=1)

    # heretic's evaluator takes its KL baseline from the model as it is when constructed: the unedited one.
    evaluator = Evaluator(settings, model) if args.check else None
    os.makedirs(args.output)
    rows = []
    for k, t in enumerate(front):
        index = t.user_attrs["index"]
        parameters = {c: AbliterationParameters(**v) for c, v in t.user_attrs["parameters"].items()}
        model.reset_model()
        model.abliterate(directions, t.user_attrs["direction_index"], parameters)
        if evaluator is not None and k == 0:
            _, kl, refusals = evaluator.get_score()
            print(f"check trial {index}: journal refusals {t.user_attrs['refusals']}, KL {t.user_attrs['kl_divergence']:.4f};"
                  f" re-scored refusals {refusals}, KL {kl:.4f}", flush=True)
            model.reset_model()
            model.abliterate(directions, t.user_attrs["direction_index"], parameters)
        path = os.path.join(args.output, f"trial-{index}")
        merged = model.get_merged_model()
        merged.save_pretrained(path)
        model.tokenizer.save_pretrained(path)
        del merged
        rows.append({
            "trial": index,
            "refusals": t.user_attrs["refusals"],
            "evaluation_prompts": t.user_attrs.get("n_bad_prompts"),
            "kl_divergence": t.user_attrs["kl_divergence"],
            "direction_index": t.user_attrs["direction_index"],
            "parameters": t.user_attrs["parameters"],
            "path": path,
        })
        print(f"trial {index}: refusals {t.user_attrs['refusals']}, KL {t.user_attrs['kl_divergence']:.4f} -> {path}", flush=True)
    with open(os.path.join(args.output, "front.json"), "w") as f:
        json.dump({"journal": journal, "completed_trials": len(completed), "front": rows}, f, indent=2)


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
