"""EMER readers and data module, EMERT's gradient reversal and discriminator, and a 2-fold CV on the fixture."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from mmer.core.errors import ConfigError, DataError, RandomInitWarning
from mmer.data_modules.emer import EmerDataModule
from mmer.data_modules.emer_files import bin_index, bin_mean, eye_features, read_eye_table
from tests.conftest import fixture_root

EYE = {"timestamp": "Recording timestamp", "gaze_x": "Gaze point X", "gaze_y": "Gaze point Y",
       "pupil_left": "Pupil diameter left", "pupil_right": "Pupil diameter right", "event": "Eye movement type",
       "fixation_x": "Fixation point X", "fixation_y": "Fixation point Y"}
LABELS = {"sample": "sample", "subject": "subject", "er": "ER_7", "er3": "ER_3", "fer": "FER_7", "fer3": "FER_3",
          "valence": "valence", "arousal": "arousal", "intensity": "FER_intensity"}


def emer(root, **kw):
    from mmer.config.composer import compose

    defaults = compose(["experiment=emert_emer"]).data  # the documented defaults, from the YAML
    args = {"label_columns": dict(defaults.label_columns), "eye_columns": dict(defaults.eye_columns),
            "face_size": 32, "num_folds": 5, **kw}
    dm = EmerDataModule(root=str(root), **args)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_resampling_uses_timestamps_not_a_rate():
    t = np.array([0.0, 1, 2, 10, 11, 12])
    assert bin_index(t, 2).tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(bin_mean(np.array([1.0, 2, 3, 10, np.nan, 20]), bin_index(t, 2), 2), [2, 15])
    assert np.isnan(bin_mean(np.ones(6), bin_index(t, 4), 4)[1])  # no row falls in [3, 6)
    # the same gaze path recorded at 60 Hz, at 120 Hz and with irregular timestamps resamples to the same steps
    rng = np.random.default_rng(0)
    tables = []
    for times in (np.arange(0, 2e6, 1e6 / 60), np.arange(0, 2e6, 1e6 / 120), np.sort(rng.uniform(0, 2e6, 400))):
        x = 960 + 500 * np.sin(times / 2e6 * 2 * np.pi)
        tables.append({"timestamp": times, "gaze_x": x, "gaze_y": np.full(len(times), 540.0)})
    feats = [eye_features(tab, 16, (1920, 1080))[0][:, 0] for tab in tables]
    np.testing.assert_allclose(feats[0], feats[1], atol=0.01)
    np.testing.assert_allclose(feats[0], feats[2], atol=0.02)
    # a tracking gap masks its steps
    gap = {k: v[(tables[0]["timestamp"] < 5e5) | (tables[0]["timestamp"] > 1e6)] for k, v in tables[0].items()}
    _, _, mask, missing = eye_features(gap, 16, (1920, 1080))
    assert not mask[5:7].any() and mask[:3].all() and mask[-3:].all()
    assert sorted(missing) == ["event", "fixation_x", "fixation_y", "pupil_left", "pupil_right"]


def test_eye_tables_by_column_name_in_any_export_style(tmp_path):
    df = pd.DataFrame({"Recording timestamp": [0, 8000, 17000], "Gaze point X": [100.5, 200.25, 300.0],
                       "Gaze point Y": [10.0, 20.0, 30.0], "Extra": ["a", "b", "c"]})
    df.to_csv(tmp_path / "tab.tsv", sep="\t", index=False)
    (tmp_path / "eu.tsv").write_text(df.to_csv(sep=";", index=False).replace(".", ","))
    df[["Extra", "Gaze point Y", "Gaze point X", "Recording timestamp"]].to_excel(tmp_path / "x.xlsx", index=False)
    tables = [read_eye_table(tmp_path / f, EYE) for f in ("tab.tsv", "eu.tsv", "x.xlsx")]
    for t in tables:
        np.testing.assert_allclose(t["gaze_x"], [100.5, 200.25, 300.0])
        assert "pupil_left" not in t
    df.drop(columns=["Gaze point Y"]).to_csv(tmp_path / "nogaze.tsv", sep="\t", index=False)
    with pytest.raises(DataError, match=r"no usable gaze columns.*Gaze point Y.*the table has"):
        read_eye_table(tmp_path / "nogaze.tsv", EYE)
    blink = df.astype(object)
    blink.loc[1, "Gaze point X"], blink.loc[2, "Gaze point Y"] = "", "nan"  # no gaze sample there: kept as NaN
    blink.to_csv(tmp_path / "blink.tsv", sep="\t", index=False)
    assert np.isnan(read_eye_table(tmp_path / "blink.tsv", EYE)["gaze_x"][1])
    blink.loc[2, "Gaze point Y"] = "abc"  # not a number and not empty: never silently dropped
    blink.to_csv(tmp_path / "garbage.tsv", sep="\t", index=False)
    with pytest.raises(DataError, match=r"garbage.tsv row 4, column 'Gaze point Y': 'abc' is not a number"):
        read_eye_table(tmp_path / "garbage.tsv", EYE)


def test_fixture_views_masks_and_folds(tmp_path_factory):
    from mmer.data_modules.fixtures.emer import CLASSES7, TO3, VA

    dm = emer(fixture_root("emer", tmp_path_factory), modalities=("face", "eye", "gaze", "fixation"))
    assert len(dm.recordings) == 40
    assert set(dm.target_spec()) == {"er", "er3", "fer", "fer3", "va", "intensity"}
    sheet = pd.read_excel(dm.root + "/EMER_label.xlsx").set_index("sample")
    for rec in dm.recordings:
        item, row = dm.load(rec), sheet.loc[rec.id]
        assert CLASSES7[int(item.targets["er"])] == row["ER_7"]
        assert CLASSES7[int(item.targets["fer"])] == row["FER_7"]
        assert dm.target_spec()["er3"][int(item.targets["er3"])] == TO3[row["ER_7"]]
        np.testing.assert_allclose(item.targets["va"], VA[row["ER_7"]], atol=1e-6)
        assert bool(item.target_masks["intensity"]) == (rec.id != "s05_c0")  # an empty cell masks that view
        assert item.inputs["eye"].shape == (32, 8) and item.inputs["gaze"].shape == (32, 2)
        assert item.input_masks["eye"].sum() >= 28  # the tracking gap
    assert not dm.load(next(r for r in dm.recordings if r.id == "s04_c3")).input_masks["face"].any()
    report = dm.data_report()
    assert report["recordings without face"] == 1 and report["eye tables missing an optional column"] == 1
    # the European export (semicolons, decimal commas) reads like the others: its gaze sits where its class puts it
    eu = dm.load(next(r for r in dm.recordings if r.id == "s03_c2"))
    k = CLASSES7.index(sheet.loc["s03_c2", "ER_7"])
    assert abs(np.median(eu.inputs["gaze"][eu.input_masks["gaze"], 0]) - (300 + 200 * k) / 1920) < 0.01
    # emer_set.txt's folds: each subject in one fold, five folds
    assert sorted(set(dm.fold_of.values())) == [0, 1, 2, 3, 4] and dm.fold_of["s01"] == dm.fold_of["s06"] == 0
    for k in range(5):
        dm.set_fold(k)
        assert not {r.group for r in dm.split("train")} & {r.group for r in dm.split("val")}


def _copy(tmp_path_factory, name):
    root = tmp_path_factory.mktemp(name) / "emer"
    shutil.copytree(fixture_root("emer", tmp_path_factory), root, ignore=shutil.ignore_patterns(".mmer_cache"))
    return root


def test_bad_labels_stop_or_are_counted(tmp_path_factory):
    root = _copy(tmp_path_factory, "emer_bad")
    sheet = pd.read_excel(root / "EMER_label.xlsx")
    sheet.loc[3, "ER_7"] = "contempt"  # not one of the 7 classes
    sheet = sheet.drop(index=7)  # a sample on disk without a label row
    sheet.to_excel(root / "EMER_label.xlsx", index=False)
    with pytest.raises(DataError, match=r"EMER_label.xlsx row 5, column 'ER_7': unknown class 'contempt'"):
        emer(root)
    dm = emer(root, on_bad_input="skip")
    report = dm.data_report()
    assert report["label rows with a problem"] == 1 and report["samples without a label row"] == 1
    assert len(dm.recordings) == 38
    # numbers are never guessed: they need data.integer_labels
    sheet["ER_7"] = [1] * len(sheet)
    sheet.to_excel(root / "EMER_label.xlsx", index=False)
    with pytest.raises(DataError, match="integer_labels"):
        emer(root)
    dm = emer(root, integer_labels="one_based")
    assert int(dm.load(dm.recordings[0]).targets["er"]) == 0
    # folds: a count that disagrees with emer_set.txt, and a subject in two folds
    with pytest.raises(ConfigError, match="emer_set.txt has 5 folds"):
        emer(root, integer_labels="one_based", num_folds=2)
    lines = (root / "emer_set.txt").read_text().splitlines()
    (root / "emer_set.txt").write_text("\n".join([lines[0].replace(" 1", " 2"), *lines[1:]]) + "\n")
    with pytest.raises(DataError, match="several folds"):
        emer(root, integer_labels="one_based")


def test_out_of_range_values_stop_or_leave_the_sample_out_and_empty_gaze_cells_are_counted(tmp_path_factory):
    """Before: valence 999 was trained on, and eye-table rows with empty / nan gaze cells vanished uncounted."""
    root = _copy(tmp_path_factory, "emer_range")
    sheet = pd.read_excel(root / "EMER_label.xlsx")
    sheet.loc[2, "valence"] = 999
    sheet.loc[5, "FER_intensity"] = -1
    sheet.to_excel(root / "EMER_label.xlsx", index=False)
    with pytest.raises(DataError, match=r"EMER_label.xlsx row 4, column 'valence': valence 999 is outside \[-1, 1\]"):
        emer(root)
    def blank_rows() -> int:
        dm = emer(root, on_bad_input="skip")
        for rec in dm.recordings:
            dm.load(rec)
        return dm.data_report()["eye-table rows without a gaze point (empty or nan cells)"]

    before = blank_rows()  # the fixture has blinks of its own
    path = root / "eye" / "s03_c1.tsv"
    table = pd.read_csv(path, sep="\t", dtype=object)
    seen = table.index[table["Gaze point X"].notna() & table["Gaze point Y"].notna()]
    table.loc[seen[:10], "Gaze point X"] = ""  # ten more blinks: no gaze point there (masked, and now counted)
    table.loc[seen[10:13], "Gaze point Y"] = "nan"
    table.to_csv(path, sep="\t", index=False)
    dm = emer(root, on_bad_input="skip")
    assert {sheet.loc[2, "sample"], sheet.loc[5, "sample"]}.isdisjoint(r.id for r in dm.recordings)
    report = dm.data_report()
    assert report["label rows with a problem"] == 2 and len(dm.recordings) == 38
    assert blank_rows() == before + 13


def test_an_eye_table_without_gaze_stops_with_its_columns(tmp_path_factory):
    root = _copy(tmp_path_factory, "emer_nogaze")
    path = root / "eye" / "s01_c0.tsv"
    pd.read_csv(path, sep="\t").drop(columns=["Gaze point X"]).to_csv(path, sep="\t", index=False)
    with pytest.raises(DataError, match=r"s01_c0.tsv: no usable gaze columns"):
        emer(root)
    dm = emer(root, on_bad_input="skip")
    assert list(dm.skipped) == ["s01_c0"] and len(dm.recordings) == 39


def test_gradient_reversal_negates_and_scales():
    from mmer.model.fusion.decoupled import reverse_gradient

    x = torch.randn(4, 3, requires_grad=True)
    y = reverse_gradient(x, 0.5)
    torch.testing.assert_close(y, x)
    (y * torch.arange(3.0)).sum().backward()
    torch.testing.assert_close(x.grad, -0.5 * torch.arange(3.0).expand(4, 3))


def test_discriminator_tells_specific_apart_while_the_invariant_branch_is_pushed_away():
    from mmer.model.fusion.decoupled import DecoupledFusion

    torch.manual_seed(0)
    fusion = DecoupledFusion({"face": 16, "eye": 16, "gaze": 16}, d_model=16, heads=2, depth=1,
                             adversarial_weight=1.0, specific_weight=1.0)
    offsets = {"face": 2.0, "eye": -2.0, "gaze": 0.0}
    feats = {m: torch.randn(8, 5, 16) + torch.linspace(-1, 1, 16) * o for m, o in offsets.items()}
    masks = {m: torch.ones(8, 5, dtype=torch.bool) for m in feats}
    # one step's gradient on the invariant projection is the reverse of plain classification's
    spec, inv, mask, ids = fusion.project(feats, masks)
    labels = ids.expand_as(mask)[mask]
    adv = fusion.discriminator_losses(spec, inv, mask, ids)["adversarial"]
    g_adv = torch.autograd.grad(adv, fusion.invariant.weight, retain_graph=True)[0]
    plain = torch.nn.functional.cross_entropy(fusion.discriminator(inv[mask]), labels)
    g_plain = torch.autograd.grad(plain, fusion.invariant.weight)[0]
    torch.testing.assert_close(g_adv, -g_plain)
    # training on the two losses: the discriminator learns the specific features' modality, while with the reversal
    # the invariant features stay much harder to tell apart than without it (lambda 0: no push)
    results = {lam: _train_decoupled(lam, feats, masks) for lam in (1.0, 0.0)}
    assert results[1.0][0] >= 0.9 and results[0.0][0] >= 0.9
    assert results[1.0][1] > 10 * results[0.0][1], results


def _train_decoupled(lam, feats, masks):
    """(discriminator accuracy on specific tokens, its loss on invariant tokens) after 150 Adam steps."""
    from mmer.model.fusion.decoupled import DecoupledFusion

    torch.manual_seed(0)
    fusion = DecoupledFusion({m: 16 for m in feats}, d_model=16, heads=2, depth=1, adversarial_weight=1.0,
                             specific_weight=1.0, grl_lambda=lam)
    opt = torch.optim.Adam(fusion.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        fusion(feats, masks)
        sum(fusion.aux_losses.values()).backward()
        opt.step()
    with torch.no_grad():
        spec, inv, mask, ids = fusion.project(feats, masks)
        labels = ids.expand_as(mask)[mask]
        acc_spec = float((fusion.discriminator(spec[mask]).argmax(-1) == labels).float().mean())
        loss_inv = float(torch.nn.functional.cross_entropy(fusion.discriminator(inv[mask]), labels))
    return acc_spec, loss_inv


@pytest.mark.parametrize("experiment,key", [("emert_multitask", "f1_weighted"), ("emert_va", "mae_mean")])
def test_two_fold_cv_on_the_fixture(experiment, key, tmp_path_factory, tmp_path):
    from mmer.config.composer import compose
    from mmer.cv import run_cv

    cfg = compose([f"experiment={experiment}", f"data.root={fixture_root('emer', tmp_path_factory)}",
                   "data.set_file=null", "data.face_size=32", "data.batch_size=8", "cv.folds=2",
                   "trainer.max_epochs=1", "logger=csv", "trainer.enable_progress_bar=false",
                   f"paths.output_root={tmp_path}"])
    with pytest.warns(RandomInitWarning) as said:
        result = run_cv(cfg)
    # the ResNet-18 face trunk has no weights: said once per job, from the backbone's file, not once per fold
    said = [w for w in said if issubclass(w.category, RandomInitWarning)]
    assert len(said) == 1 and said[0].filename.endswith("backbones/pretrained.py"), [str(w.message) for w in said]
    s = result.summary
    assert np.isfinite(s[f"cv/oof_{key}"]) and f"cv/val_std_{key}" in s
    json.loads((result.run_dir / "summary.json").read_text(), parse_constant=pytest.fail)  # strict JSON: no NaN
    assert "mean over folds" in result.table and "std over folds" in result.table
    if experiment == "emert_multitask":  # the FER head is scored over each whole fold beside ER
        keys = set(pd.read_csv(result.run_dir / "metrics.csv")["key"])
        assert "fold0/val/fer_f1_weighted" in keys and "fold1/val/loss_adversarial" in keys
    else:
        assert (result.run_dir / "values_oof.png").is_file() and "cv/oof_ccc_valence" in s


def test_set_file_duplicates_unknown_samples_and_stray_fold_numbers_are_named(tmp_path_factory):
    root = _copy(tmp_path_factory, "emer_set")
    lines = (root / "emer_set.txt").read_text().splitlines()
    subject = lines[0].split("_")[0] + "_"
    stray = [line.rsplit(" ", 1)[0] + " 9" if line.startswith(subject) else line for line in lines]
    for bad, message in (([*lines, lines[0]], r"emer_set.txt line \d+: sample '.*' is listed twice"),
                         ([*lines, "nobody_c9 3"], r"1 sample\(s\) neither in the label sheet nor on disk, first 'nobody"),
                         (stray, r"subject '.*' is in fold 9; fix that")):
        (root / "emer_set.txt").write_text("\n".join(bad) + "\n")
        with pytest.raises(DataError, match=message):
            emer(root)


def test_a_repeated_label_row_is_refused_or_leaves_the_sample_out(tmp_path_factory):
    root = _copy(tmp_path_factory, "emer_dup")
    sheet = pd.read_excel(root / "EMER_label.xlsx")
    pd.concat([sheet, sheet.iloc[[2]]]).to_excel(root / "EMER_label.xlsx", index=False)
    name = str(sheet.iloc[2]["sample"])
    with pytest.raises(DataError, match=rf"EMER_label.xlsx row {len(sheet) + 2}: sample '{name}' already has row 4"):
        emer(root)
    dm = emer(root, on_bad_input="skip")
    assert name not in {r.id for r in dm.recordings} and dm.data_report()["label rows with a problem"] == 1
