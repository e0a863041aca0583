"""``mmer explain RUN_DIR``: a structured record and one plain sentence for every prediction of a finished run, for
every model in mmer (EMERSK's explanations from situational knowledge, generalised).

A prediction is one item of the evaluation loader: a sample (GroupWalk agent segment, BioVid trial), a tiled
window of a video (Aff-Wild2, synthetic; values averaged over the window's frames), or, where every step of an item
is a prediction of its own (``per_step_predictions``: the utterances of a MELD / IEMOCAP dialogue), one step. With
``split="val"`` (default) every fold's model explains its own validation items, so each trainval item is explained
once, out of fold; with ``split="test"`` one fold's model explains the held-out partition. Each record holds
(:data:`FIELDS`):

- ``location``: the dataset's scene tag when it has one (GroupWalk's ``location`` column), else the top label of a
  user-given scene classifier (:mod:`mmer.model.scene_scorers`; nothing is downloaded), else null with ``location_note``
  saying why;
- ``adjective_noun_pairs``: from a user-given ANP scorer, else null with ``anp_note``;
- ``distribution``: mmer's own average prediction over every explained item at the same location and in the same
  time window (``time_window`` steps: frames of the video, or utterances of the dialogue), and whether this
  prediction agrees with each (classes: same top class; values: same sign in every dimension);
- ``attribution``: per modality, ``delta`` = how much the prediction falls when that modality is masked out (zero
  input, mask False) and the model re-run: the predicted class's probability drop, or for values the mean absolute
  change; ``share`` = max(delta, 0) / sum over modalities of max(delta, 0) (0 for all when no removal hurts). Works
  for every fusion;
- ``attention``: the fusion's own attention weights where it has them (JMT: the fusion token over its streams;
  leader-follower: attention over modalities; M2FNet: same / earlier / later utterances per keyed attention;
  EMERT: invariant queries over the modalities), averaged over heads and unpadded steps; null otherwise.

Written to ``RUN_DIR/explain/<split>/``: ``explanations.jsonl`` (one record per line), ``distribution.json`` and one
PNG per video (predictions over time above the attribution bars).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mmer.config.build import prepare_datamodule
from mmer.core.errors import ConfigError
from mmer.core.io import atomic_write_text
from mmer.evaluation.evaluator import evaluator_for
from mmer.evaluation.report import first_step, plot_explanations
from mmer.model.scene_scorers import SceneScorer
from mmer.runs.folder import load_run

if TYPE_CHECKING:
    from mmer.data.base import FoldedDataModule

log = logging.getLogger(__name__)
#: where a prediction is: a window or sample of a video (FRAME_PLACE), or an utterance of a dialogue (STEP_PLACE)
FRAME_PLACE = ("video", "start_frame", "end_frame")
STEP_PLACE = ("dialogue", "utterance", "position")
FIELDS = ("id", "fold", "split", "prediction", "target", "location", "location_note", "adjective_noun_pairs",
          "anp_note", "distribution", "attribution", "attention", "sentence")


def recording_of(r: dict) -> str:
    """The video or dialogue a record belongs to."""
    return r["dialogue"] if "dialogue" in r else r["video"]


# ------------------------------------------------------------------------------------------------ attribution
def attribution(full: torch.Tensor, dropped: dict[str, torch.Tensor], present: dict[str, bool],
                classes: bool) -> dict[str, dict[str, float]]:
    """One prediction's modality attribution by masking. full: (D,) class probabilities or (T, D) values; dropped:
    the same with each modality masked out. Classes: delta = p_full[c] - p_dropped[c] for the predicted class c;
    values: delta = mean |full - dropped|. share = max(delta, 0) / sum of max(delta, 0) (all 0 if that sum is 0)."""
    if classes:
        c = int(full.argmax())
        deltas = {m: float(full[c] - d[c]) for m, d in dropped.items()}
    else:
        deltas = {m: float((full - d).abs().mean()) for m, d in dropped.items()}
    total = sum(max(v, 0.0) for v in deltas.values())
    return {m: {"delta": v, "share": max(v, 0.0) / total if total > 0 else 0.0, "present": present[m]}
            for m, v in deltas.items()}


def attention_summary(weights: dict[str, torch.Tensor], i: int, labels: dict[str, list[str]],
                      step: int | None = None) -> dict | None:
    """Item i's attention weights: each tensor (B, ..., K) with at most 16 keys averaged over all but its last axis,
    keyed by the fusion's labels for it. Rows that are all 0 (padded or masked steps) are left out of the mean, and
    so is attention over time steps (K > 16). ``step``: only that step's row of per-step weights (B, T, K), e.g.
    one utterance of an M2FNet dialogue (weights without such an axis are summarised over the item)."""
    out = {}
    for name, w in weights.items():
        if w.shape[-1] > 16:
            continue
        per_step = step is not None and w.dim() == 3
        rows = (w[i, step:step + 1] if per_step else w[i]).float().reshape(-1, w.shape[-1])
        used = rows.abs().sum(-1) > 0
        mean = rows[used].mean(0) if used.any() else rows.mean(0)
        names = labels.get(name) or [str(k) for k in range(len(mean))]
        out[name] = {n: round(float(v), 4) for n, v in zip(names, mean)}
    return out or None


# ------------------------------------------------------------------------------------------------ running models
@torch.no_grad()
def _explain_batch(model: Any, head: Any, batch: Any, per_step: bool = False) -> list[dict]:
    """Per prediction: summary, attribution and attention. A prediction is a batch item, or with ``per_step`` (and a
    per-step head) each valid step of it, whose item then carries ``index`` (the item) and ``step``."""
    outputs, weights = model(batch, need_weights=True)
    full = head.task.predict(outputs[head.name]).float()
    mods = [m for m in model.backbones if m in batch.inputs]
    dropped = {m: head.task.predict(model(batch.without(m))[head.name]).float() for m in mods}
    classes = head.task.predicts_classes
    labels = model.fusion.attention_labels
    items = []
    for i in range(full.shape[0]):
        present = {m: bool(batch.masks[m][i].any()) for m in mods}
        if full.dim() == 3 and per_step:  # every valid step is a prediction (a dialogue's utterances)
            for t in range(int(batch.meta["valid"][i])):
                here = {m: _present_at(batch.masks[m][i], t) for m in mods}
                if not bool(batch.target_masks[head.target][i, t].any()) and not any(here.values()):
                    continue
                items.append({"index": i, "step": t, "summary": full[i, t].numpy().astype(np.float64),
                              "attribution": attribution(full[i, t], {m: v[i, t] for m, v in dropped.items()},
                                                         here, classes),
                              "attention": attention_summary(weights, i, labels, step=t)})
            continue
        if full.dim() == 3:  # frame head: the window's valid frames
            valid = int(batch.meta["valid"][i])
            f, d = full[i, :valid], {m: v[i, :valid] for m, v in dropped.items()}
            summary = f.mean(0)
            attr = attribution(summary, {m: v.mean(0) for m, v in d.items()}, present, True) if classes \
                else attribution(f, d, present, False)
        else:
            summary = full[i]
            attr = attribution(summary, {m: v[i] for m, v in dropped.items()}, present, classes)
        items.append({"index": i, "summary": summary.numpy().astype(np.float64), "attribution": attr,
                      "attention": attention_summary(weights, i, labels)})
    return items


def _present_at(mask: torch.Tensor, t: int) -> bool:
    """Whether a modality is present at step t of an item: its own mask there when it is per step, else anywhere."""
    return bool(mask[t]) if mask.dim() == 1 and t < mask.shape[0] else bool(mask.any())


def _describe(dm: FoldedDataModule, batch: Any, i: int, step: int | None = None) -> dict:
    rec_id = batch.meta["recording"][i]
    if step is not None:  # one utterance of a dialogue (per_step_predictions): positions count utterances
        return {"dialogue": rec_id, "utterance": dm.step_names(rec_id)[step], "position": step, "location": None}
    described = dm.explain_context(rec_id)
    if described is not None:
        return described
    start = int(batch.meta["start"][i]) if "start" in batch.meta else 0
    valid = int(batch.meta["valid"][i]) if "valid" in batch.meta else 1
    return {"video": rec_id, "start_frame": start, "end_frame": start + valid - 1, "location": None}


def _target(batch: Any, head: Any, i: int, columns: list[str], classes: bool, step: int | None = None) -> Any:
    t, m = batch.targets[head.target][i], batch.target_masks[head.target][i]
    if step is not None:
        t, m = t[step], m[step]
    if not bool(m.any()):
        return None
    if classes and t.dim() == 0:
        return columns[int(t)]
    if classes:
        return columns[int(torch.mode(t[m].long()).values)]
    return {c: round(float(v), 4) for c, v in zip(columns, t[m].float().mean(0))}


# ------------------------------------------------------------------------------------------------ the records
def explain_run(run_dir: str | Path, split: str = "val", fold: int | None = None, scene: Any = None, anp: Any = None,
                time_window: int | None = None, overrides: Sequence[str] = (), max_plots: int = 20) -> Path:
    """Explain every prediction of a finished run; returns the output folder. ``scene`` / ``anp``:
    :class:`mmer.model.scene_scorers.SceneScorer` or None; ``overrides``: dotted keys changed in the run's config (e.g.
    ``data.root=/new/place``)."""

    run_dir = Path(run_dir)
    if split not in ("val", "test"):
        raise ConfigError(f"--split {split}: choose val (every fold's own validation items) or test")
    run = load_run(run_dir, overrides)
    cfg = run.cfg
    dm = prepare_datamodule(cfg)
    ev = evaluator_for(cfg, dm.target_spec())
    folds = list(run.checkpoints)
    if split == "test":
        folds = [fold if fold is not None else folds[0]]
    elif fold is not None:
        folds = [fold]
    records = []
    for k in folds:
        dm.set_fold(k)
        if k not in run.checkpoints:
            raise ConfigError(f"{run_dir}: fold {k} is not finished (finished: {folds})")
        model = run.run.load_model(k)
        head = next(h for h in model.heads if h.name == ev.head)
        classes = head.task.predicts_classes
        loader = dm.eval_loader(split)
        for batch in loader:
            for item in _explain_batch(model, head, batch, per_step=dm.per_step_predictions):
                i, step = item["index"], item.get("step")
                info = _describe(dm, batch, i, step)
                records.append(_record(k, split, batch.meta["recording"][i], info, item, ev.columns, classes,
                                       _target(batch, head, i, ev.columns, classes, step), dm, scene, anp))
    if not records:
        raise ConfigError(f"{run_dir}: the {split} split has no items to explain")
    priors = add_distributions(records, time_window or dm.explain_time_window, ev.columns, bool(classes),
                               dm.step_unit)
    for r in records:
        r["sentence"] = sentence(r)
    out = run.run.explain_dir(split)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "explanations.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    atomic_write_text(out / "distribution.json", json.dumps(priors, indent=2))

    by_video = defaultdict(list)
    for r in records:
        by_video[recording_of(r)].append(r)
    for video in sorted(by_video)[:max_plots]:
        plot_explanations(out / f"{_safe(video)}.png", video, by_video[video], ev.columns, classes)
    log.info("explained %d predictions: %s", len(records), out)
    for r in records[:3]:
        print(r["sentence"])
    print(f"{len(records)} explanations in {out / 'explanations.jsonl'}, plots for {min(len(by_video), max_plots)} "
          f"videos in {out}")
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))


def _record(fold: int, split: str, rec_id: str, info: dict, item: dict, columns: list[str], classes: bool,
            target: Any, dm: FoldedDataModule, scene: Any, anp: Any) -> dict:
    summary = item["summary"]
    if classes:
        prediction = {"label": columns[int(summary.argmax())], "confidence": round(float(summary.max()), 4),
                      "probabilities": {c: round(float(v), 4) for c, v in zip(columns, summary)}}
    else:
        prediction = {"values": {c: round(float(v), 4) for c, v in zip(columns, summary)}}
    image = dm.scene_image(rec_id)
    location, location_note = None, None
    if info.get("location"):
        location = {"label": info["location"], "source": "dataset scene tag", "confidence": None}
    elif scene is not None and image is not None:
        label, p = scene.location(image)
        location = {"label": label, "source": "scene classifier", "confidence": round(p, 4)}
    else:
        location_note = ("no location: the data has no scene tag and no scene classifier was given (--scene-model)"
                         if image is not None or scene is None else
                         "no location: this dataset has no scene images for the scene classifier")
    pairs, anp_note = None, None
    if anp is not None and image is not None:
        pairs = [{"pair": p, "score": round(s, 4)} for p, s in anp.pairs(image)]
    else:
        anp_note = ("no adjective-noun pairs: no ANP scorer was given (--anp-model)" if anp is None else
                    "no adjective-noun pairs: this dataset has no scene images")
    place = {k: v for k, v in info.items() if k != "location"}  # FRAME_PLACE or STEP_PLACE, and any extra fields
    item_id = f"{rec_id}/{info['utterance']}" if info.get("utterance") else rec_id
    return {"id": item_id, "fold": fold, "split": split, **place, "prediction": prediction, "target": target,
            "location": location, "location_note": location_note, "adjective_noun_pairs": pairs,
            "anp_note": anp_note, "distribution": None, "attribution": item["attribution"],
            "attention": item["attention"], "sentence": "", "_summary": summary.tolist()}


def add_distributions(records: list[dict], time_window: int, columns: list[str], classes: bool,
                      unit: str = "frames") -> dict:
    """The spatio-temporal average of mmer's own predictions: per location and per time window (start step //
    ``time_window``; ``unit`` names the steps: frames or utterances), and each record's agreement with both. Returns
    the averages (also written to disk)."""
    if time_window < 1:
        raise ConfigError(f"time_window={time_window} must be >= 1 step ({unit})")
    groups: dict[str, dict[str, list]] = {"location": defaultdict(list), "time_window": defaultdict(list)}
    keys = []
    for r in records:
        loc = r["location"]["label"] if r["location"] else "unknown"
        win = first_step(r) // time_window
        keys.append((loc, win))
        groups["location"][loc].append(r["_summary"])
        groups["time_window"][win].append(r["_summary"])
    means = {kind: {g: np.mean(v, axis=0) for g, v in by.items()} for kind, by in groups.items()}
    for r, (loc, win) in zip(records, keys):
        own = np.asarray(r.pop("_summary"))
        r["distribution"] = {
            "location": _prior(loc, means["location"][loc], len(groups["location"][loc]), own, columns, classes),
            "time_window": {**_prior(win, means["time_window"][win], len(groups["time_window"][win]), own, columns,
                                     classes), "unit": unit, "span": [win * time_window, (win + 1) * time_window - 1]}}
    return {kind: {str(g): {c: round(float(v), 4) for c, v in zip(columns, m)} for g, m in by.items()}
            for kind, by in means.items()}


def _prior(group: Any, mean: np.ndarray, count: int, own: np.ndarray, columns: list[str], classes: bool) -> dict:
    agrees = bool(mean.argmax() == own.argmax()) if classes else bool(np.all(np.sign(mean) == np.sign(own)))
    return {"group": group, "count": count, "average": {c: round(float(v), 4) for c, v in zip(columns, mean)},
            "agrees": agrees}


# ------------------------------------------------------------------------------------------------ the sentence
def sentence(r: dict) -> str:
    """One plain sentence (a few clauses) from a record's fields."""
    dist = r["distribution"]
    first, last = dist["time_window"]["span"]
    if "dialogue" in r:  # one utterance of a dialogue
        where = f"Utterance {r['utterance']} (position {r['position']}) of dialogue {r['dialogue']}"
        window = f"at positions {first}-{last} of all dialogues"
    else:
        who = f"agent {r['agent']} in video {r['video']}" if r.get("agent") is not None else r["video"]
        if r["end_frame"] > r["start_frame"]:
            where = f"In frames {r['start_frame']}-{r['end_frame']}, {who}"
            window = f"in frames {first}-{last} of all videos"
        else:  # a whole-sample dataset without frame positions (BioVid, EMER) names the sample only
            where, window = f"Sample {who}", "over all samples"
    pred = r["prediction"]
    if "label" in pred:
        annotated = f", annotated {r['target']}" if isinstance(r.get("target"), str) else ""
        parts = [f"{where} is predicted {pred['label']} (p = {pred['confidence']:.2f}{annotated})"]
    else:
        values = ", ".join(f"{k} {v:+.2f}" for k, v in pred["values"].items())
        parts = [f"{where} is predicted {values} on average"]
    if r["location"]:
        src = r["location"]["source"]
        parts.append(f"the place is {r['location']['label']} ({src})")
    if r["adjective_noun_pairs"]:
        parts.append("the scene shows " + ", ".join(f"'{p['pair']}'" for p in r["adjective_noun_pairs"]))
    for kind, where in (("location", f"at {dist['location']['group']}"), ("time_window", window)):
        d = dist[kind]
        if kind == "location" and not r["location"]:
            continue
        top = max(d["average"], key=d["average"].get) if "label" in pred else None
        what = (f"mostly {top} ({d['average'][top]:.0%})" if top else
                ", ".join(f"{k} {v:+.2f}" for k, v in d["average"].items()))
        parts.append(f"{where} mmer predicts {what} on average over {d['count']}, which this prediction "
                     f"{'agrees with' if d['agrees'] else 'departs from'}")
    shares = sorted(r["attribution"].items(), key=lambda kv: -kv[1]["share"])
    if shares and shares[0][1]["share"] > 0:
        parts.append("masking each modality in turn, the evidence came from " +
                     ", ".join(f"{m} {a['share']:.0%}" for m, a in shares if a["present"]))
    else:
        parts.append("masking any single modality did not lower this prediction")
    absent = [m for m, a in r["attribution"].items() if not a["present"]]
    if absent:
        parts.append(f"{', '.join(absent)} {'was' if len(absent) == 1 else 'were'} not available")
    if r["attention"]:
        name, weights = next(iter(r["attention"].items()))
        top = max(weights, key=weights.get)
        parts.append(f"the fusion's attention ({name}) weighed {top} most ({weights[top]:.2f})")
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


def run(args: argparse.Namespace) -> int:
    scene = SceneScorer.load(args.scene_model, args.scene_labels) if args.scene_model else None
    anp = SceneScorer.load(args.anp_model, args.anp_vocab) if args.anp_model else None
    explain_run(args.run_dir, args.split, args.fold, scene, anp, args.time_window, args.overrides)
    return 0
