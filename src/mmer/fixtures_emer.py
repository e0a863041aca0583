"""``mmer make-fixture emer DIR``: a tiny EMER release in the layout of :mod:`data_modules.emer`.

10 subjects x 4 clips. ``EMER_label.xlsx`` holds class names for ER and FER (7 and 3 classes), valence, arousal and
FER intensity; FER differs from ER in a quarter of the clips (a neutral face over a felt emotion: the gap EMERT is
about) and one intensity cell is empty. ``emer_set.txt`` puts each subject in one of 5 folds. Per clip: 8 aligned
face images whose brightness follows the FER class, a Tobii-style eye table and a fixation heat map whose gaze
position follows the ER class and whose pupil size follows arousal.

Faults on purpose: timestamps are irregular (jittered, with a tracking gap and "EyesNotFound" rows without gaze);
clip ``s02_c1``'s table has no "Pupil diameter right" column; ``s03_c2``'s is semicolon-separated with decimal commas
(a European export); ``s04_c3`` has no face images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES7 = ("neutral", "happiness", "sadness", "anger", "fear", "disgust", "surprise")
TO3 = {"neutral": "neutral", "surprise": "neutral", "happiness": "positive", "sadness": "negative",
       "anger": "negative", "fear": "negative", "disgust": "negative"}
VA = {"neutral": (0.0, -0.2), "happiness": (0.7, 0.5), "sadness": (-0.6, -0.4), "anger": (-0.6, 0.7),
      "fear": (-0.7, 0.6), "disgust": (-0.5, 0.2), "surprise": (0.2, 0.8)}
COLUMNS = ["Recording timestamp", "Gaze point X", "Gaze point Y", "Pupil diameter left", "Pupil diameter right",
           "Eye movement type", "Fixation point X", "Fixation point Y"]


def _eye_rows(rng: np.random.Generator, emotion: str, arousal: float) -> list[list]:
    k = CLASSES7.index(emotion)
    cx, cy = 300 + 200 * k, 300 + 60 * (k % 3)
    t, rows = 0.0, []
    for i in range(240):
        t += 8333 + rng.normal(0, 2500) + (150000 if i == 120 else 0)  # jitter, and a tracking gap
        if rng.random() < 0.06:
            rows.append([round(t), "", "", "", "", "EyesNotFound", "", ""])
            continue
        fixation = (i // 12) % 3 != 2
        x, y = cx + rng.normal(0, 25 if fixation else 90), cy + rng.normal(0, 25 if fixation else 90)
        pupil = 3.2 + 0.6 * arousal + rng.normal(0, 0.05)
        rows.append([round(t), round(x, 1), round(y, 1), round(pupil, 3), round(pupil + 0.02, 3),
                     "Fixation" if fixation else "Saccade", round(cx, 1) if fixation else "",
                     round(cy, 1) if fixation else ""])
    return rows


def make_emer_fixture(root: str | Path, seed: int = 0, subjects: int = 10, clips: int = 4) -> Path:
    import pandas as pd
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    labels, sets = [], []
    for s in range(1, subjects + 1):
        for c in range(clips):
            name, subject = f"s{s:02d}_c{c}", f"s{s:02d}"
            er = CLASSES7[(s + 3 * c) % 7]
            fer = "neutral" if (s + c) % 4 == 0 else er
            valence, arousal = VA[er]
            labels.append({"sample": name, "subject": subject, "ER_7": er, "ER_3": TO3[er], "FER_7": fer,
                           "FER_3": TO3[fer], "valence": valence, "arousal": arousal,
                           "FER_intensity": None if name == "s05_c0" else float(CLASSES7.index(fer) % 4)})
            sets.append(f"{name} {(s - 1) % 5 + 1}")
            if name != "s04_c3":
                folder = root / "faces" / name
                folder.mkdir(parents=True, exist_ok=True)
                level = 40 + 30 * CLASSES7.index(fer)
                for f in range(8):
                    img = np.clip(level + rng.normal(0, 8, (48, 48, 3)), 0, 255).astype(np.uint8)
                    Image.fromarray(img).save(folder / f"{f + 1:05d}.jpg")
            rows = _eye_rows(rng, er, arousal)
            table = pd.DataFrame(rows, columns=COLUMNS)
            (root / "eye").mkdir(parents=True, exist_ok=True)
            if name == "s02_c1":
                table = table.drop(columns=["Pupil diameter right"])
            if name == "s03_c2":
                text = table.to_csv(sep=";", index=False).replace(".", ",")
                (root / "eye" / f"{name}.tsv").write_text(text)
            else:
                table.to_csv(root / "eye" / f"{name}.tsv", sep="\t", index=False)
            heat = np.zeros((64, 64), np.float64)
            k = CLASSES7.index(er)
            yy, xx = np.mgrid[:64, :64]
            heat += np.exp(-(((xx - 8 - 7 * k) ** 2 + (yy - 20 - 4 * (k % 3)) ** 2) / 40.0))
            (root / "fixation").mkdir(parents=True, exist_ok=True)
            Image.fromarray((255 * heat / heat.max()).astype(np.uint8)).save(root / "fixation" / f"{name}.png")
    pd.DataFrame(labels).to_excel(root / "EMER_label.xlsx", index=False)
    (root / "emer_set.txt").write_text("\n".join(sets) + "\n")
    return root
