"""``mmer explain``: attribution by masking, the records' fields, pluggable scene scorers, fusion attention, and
EMERSK, JMT and M2FNet runs."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from mmer.commands.explain import FIELDS, FRAME_PLACE, STEP_PLACE, attention_summary, attribution, explain_run
from mmer.cv import run_cv
from mmer.model.scene_scorers import SceneScorer
from tests.conftest import dataset_overrides, fixture_root


def test_attribution_shares_sum_to_one_and_follow_the_drop():
    full = torch.tensor([0.1, 0.7, 0.2])
    dropped = {"face": torch.tensor([0.3, 0.4, 0.3]), "gait": torch.tensor([0.2, 0.6, 0.2]),
               "context": torch.tensor([0.05, 0.8, 0.15])}
    a = attribution(full, dropped, {"face": True, "gait": True, "context": True}, classes=True)
    assert a["face"]["delta"] == pytest.approx(0.3) and a["gait"]["delta"] == pytest.approx(0.1)
    assert a["context"]["delta"] == pytest.approx(-0.1) and a["context"]["share"] == 0.0
    assert sum(v["share"] for v in a.values()) == pytest.approx(1.0)
    assert a["face"]["share"] == pytest.approx(0.75)
    none = attribution(full, {"face": full.clone()}, {"face": True}, classes=True)
    assert none["face"] == {"delta": 0.0, "share": 0.0, "present": True}
    values = attribution(torch.ones(5, 2), {"audio": torch.zeros(5, 2)}, {"audio": True}, classes=False)
    assert values["audio"]["delta"] == pytest.approx(1.0)


class _Fixed(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x):
        return torch.arange(self.n, dtype=torch.float32).expand(x.shape[0], self.n) * x.mean()


def _scripted(tmp_path, name, labels):
    path = tmp_path / f"{name}.pt"
    torch.jit.save(torch.jit.script(_Fixed(len(labels))), str(path))
    (tmp_path / f"{name}.txt").write_text("\n".join(labels) + "\n")
    return SceneScorer.load(path, tmp_path / f"{name}.txt", size=32)


def test_scene_scorers_are_torchscript_files_with_a_label_list(tmp_path):
    scene = _scripted(tmp_path, "places", ["beach", "street", "park"])
    image = np.full((3, 40, 40), 255, np.uint8)
    assert scene.location(image)[0] == "park"
    anp = _scripted(tmp_path, "anp", ["calm lake", "busy street", "sunny park", "old house"])
    assert [p for p, _ in anp.pairs(image, threshold=0.6, top=2)] == ["old house", "sunny park"]
    (tmp_path / "short.txt").write_text("one\n")
    with pytest.raises(Exception, match="does not belong"):
        SceneScorer.load(tmp_path / "places.pt", tmp_path / "short.txt").location(image)


@pytest.fixture(scope="module")
def emersk_run(tmp_path_factory):
    from mmer.config.composer import compose
    from mmer.cv import run_cv

    root = fixture_root("groupwalk", tmp_path_factory)
    out = tmp_path_factory.mktemp("emersk_runs")
    cfg = compose(["experiment=emersk_groupwalk", f"data.root={root}", "data.segment_frames=16", "cv.folds=2",
                   "trainer.max_epochs=2", "logger=csv", "trainer.enable_progress_bar=false",
                   f"paths.output_root={out}"])
    return run_cv(cfg).run_dir


def test_explain_emersk_records_have_the_documented_fields(emersk_run, tmp_path):
    anp = _scripted(tmp_path, "anp", ["calm lake", "busy street", "sunny park"])
    out = explain_run(emersk_run, anp=anp)
    records = [json.loads(line) for line in (out / "explanations.jsonl").read_text().splitlines()]
    assert len(records) == 36  # every sample once, explained by the fold that did not train on it
    folds = {r["fold"] for r in records}
    assert folds == {0, 1}
    for r in records:
        assert set(FIELDS) | set(FRAME_PLACE) <= set(r)
        assert r["location"]["source"] == "dataset scene tag" and r["location"]["label"] in ("street", "park")
        assert [p["pair"] for p in r["adjective_noun_pairs"]] == ["sunny park", "busy street", "calm lake"]
        assert sorted(r["attribution"]) == ["context", "face", "gait", "posture"]
        shares = [a["share"] for a in r["attribution"].values()]
        assert sum(shares) == pytest.approx(1.0) or sum(shares) == 0.0
        probs = r["prediction"]["probabilities"]
        assert r["prediction"]["label"] == max(probs, key=probs.get) and sum(probs.values()) == pytest.approx(1, abs=1e-3)
        for kind in ("location", "time_window"):
            d = r["distribution"][kind]
            assert d["agrees"] == (max(d["average"], key=d["average"].get) == r["prediction"]["label"])
        assert r["sentence"].startswith("In frames") and r["prediction"]["label"] in r["sentence"]
    away = [r for r in records if r["video"] == "v02" and r["agent"] == "a2"]
    assert away and all(not r["attribution"]["face"]["present"] and r["attribution"]["face"]["delta"] == 0.0
                        for r in away)  # masking an absent module changes nothing
    assert all("face was not available" in r["sentence"] for r in away)
    dist = json.loads((out / "distribution.json").read_text())
    assert set(dist["location"]) == {"street", "park"}
    street = [r for r in records if r["location"]["label"] == "street"]
    mean_happy = np.mean([r["prediction"]["probabilities"]["happy"] for r in street])
    assert dist["location"]["street"]["happy"] == pytest.approx(mean_happy, abs=1e-3)
    assert sorted(p.name for p in out.glob("*.png")) == ["v01.png", "v02.png", "v03.png", "v04.png"]


def test_explain_says_what_is_missing_without_tags_or_scorers(emersk_run):
    out = explain_run(emersk_run, split="val", fold=1)
    r = json.loads((out / "explanations.jsonl").read_text().splitlines()[0])
    assert r["fold"] == 1 and r["adjective_noun_pairs"] is None and "--anp-model" in r["anp_note"]


def test_explain_a_jmt_model_trained_on_the_synthetic_default(compose_tiny):
    from mmer.cv import run_cv

    run = run_cv(compose_tiny("cv.folds=2", "trainer.max_epochs=1")).run_dir
    out = explain_run(run, split="test", time_window=100)
    records = [json.loads(line) for line in (out / "explanations.jsonl").read_text().splitlines()]
    assert records and all(set(FIELDS) | set(FRAME_PLACE) <= set(r) for r in records)
    r = records[0]
    assert set(r["prediction"]["values"]) == {"valence", "arousal"}
    assert r["location"] is None and "no scene tag" in r["location_note"]
    tokens = r["attention"]["tokens"]  # the JMT fusion token's attention over its streams
    assert "fusion token" in tokens and "visual<-audio" in tokens
    assert sum(tokens.values()) == pytest.approx(1.0, abs=1e-3)
    assert r["end_frame"] - r["start_frame"] + 1 <= 100 and r["distribution"]["time_window"]["span"][1] % 100 == 99
    assert list(out.glob("*.png"))


def test_m2fnet_fusion_returns_where_each_utterance_looked():
    from mmer.model.fusion.m2fnet import M2FNetFusion

    torch.manual_seed(0)
    fusion = M2FNetFusion({"text": 8, "audio": 6, "visual": 5}, d_model=16, heads=2, depth=1, fusion_layers=2).eval()
    feats = {m: torch.randn(3, 5, d) for m, d in (("text", 8), ("audio", 6), ("visual", 5))}
    masks = {m: torch.ones(3, 5, dtype=torch.bool) for m in feats}
    for m in masks:
        masks[m][1, 3:] = False  # dialogue 1 has 3 utterances
    masks["audio"][2] = False  # dialogue 2 has no audio at all
    with torch.no_grad():
        plain = fusion(feats, masks)
        fused, weights = fusion(feats, masks, need_weights=True)
    assert torch.allclose(plain, fused, atol=1e-5)  # the explicit product is the fused kernel's
    assert set(weights) == set(fusion.attention_labels) == {f"text<-{m} (block {n})" for m in ("audio", "visual")
                                                            for n in (1, 2)}
    for w in weights.values():
        assert w.shape == (3, 5, 3)
        assert torch.allclose(w[0].sum(-1), torch.ones(5)) and torch.allclose(w[1, :3].sum(-1), torch.ones(3))
        assert w[:2, 0, 1].eq(0).all() and w[0, 4, 2].eq(0) and w[1, 2, 2].abs() < 1e-7  # nothing before the first
        assert w[1, 3:].eq(0).all()  # padded utterances                                # or after the last
    assert weights["text<-audio (block 1)"][2].eq(0).all() and weights["text<-visual (block 1)"][2].sum() > 0
    summary = attention_summary(weights, 1, fusion.attention_labels)  # padded rows are left out of the mean
    shares = summary["text<-visual (block 2)"]
    assert list(shares) == ["same utterance", "earlier utterances", "later utterances"]
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3)
    assert summary["text<-audio (block 1)"] == pytest.approx(
        dict(zip(shares, weights["text<-audio (block 1)"][1, :3].mean(0).tolist())), abs=1e-4)


def test_explain_an_m2fnet_run_reports_its_keyed_attention(tmp_path_factory, tmp_path):
    from mmer.config.composer import compose
    from mmer.cv import run_cv

    cfg = compose(["experiment=m2fnet_meld_av", *dataset_overrides("meld_clips", tmp_path_factory),
                   "trainer.max_epochs=1", f"paths.output_root={tmp_path / 'runs'}"])
    result = run_cv(cfg)
    run = result.run_dir
    # an official-split dataset prints its train / dev / test scores, not a 1-fold CV with a zero spread
    assert "official train / dev / test split" in result.table and "std over folds" not in result.table
    assert [line.split()[0] for line in result.table.splitlines()[2:5]] == ["train", "dev", "test"]
    out = explain_run(run, split="test")
    records = [json.loads(line) for line in (out / "explanations.jsonl").read_text().splitlines()]
    # one record per utterance of the test dialogues, with the probabilities of the run's own prediction table
    test = pd.read_csv(run / "fold0/test_predictions.csv")
    assert len(records) == len(test) and len({r["id"] for r in records}) == len(records)
    assert all(set(FIELDS) | set(STEP_PLACE) <= set(r) and "start_frame" not in r for r in records)  # no frame words
    assert [(r["dialogue"], r["position"]) for r in records] == list(zip(test["video"], test["frame"]))
    for r, (_, row) in zip(records, test.iterrows()):
        assert r["prediction"]["probabilities"] == pytest.approx(row[list(r["prediction"]["probabilities"])].to_dict(),
                                                                 abs=1e-3)
    first = records[0]
    assert first["id"] == f"{first['dialogue']}/{first['utterance']}" and first["position"] == 0
    assert first["distribution"]["time_window"]["unit"] == "utterances"
    shares = first["attention"]["text<-audio (block 1)"]
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3) and shares["earlier utterances"] == 0
    assert first["sentence"].startswith(f"Utterance {first['utterance']} (position 0) of dialogue {first['dialogue']}")
    assert "the fusion's attention (text<-audio (block 1))" in first["sentence"]


class Planted:
    """Unpickling this runs code (it would create the file ``marker``)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_run_folder_cannot_make_mmer_run_code(compose_tiny, tmp_path):
    from mmer.core.errors import ConfigError

    run = run_cv(compose_tiny("cv.folds=2", "trainer.max_epochs=1", "cv.only_folds=[0]")).run_dir
    config = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(config.replace("mmer.model.fusion.joint_transformer.JointTransformerFusion",
                                                    "os.system"))
    with pytest.raises(ConfigError, match=r"model.fusion._target_=os.system is outside the packages"):
        explain_run(run)
    (run / "config.yaml").write_text(config)
    marker = tmp_path / "code_ran"
    torch.save({"state_dict": Planted(marker)}, run / "fold0/checkpoints/best.ckpt")
    with pytest.raises(ConfigError, match="not a plain checkpoint"):
        explain_run(run)
    assert not marker.exists()
