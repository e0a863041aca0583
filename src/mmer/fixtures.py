"""Tiny datasets in the owners' on-disk layouts, for tests and for trying a pipeline without the licensed data.

``mmer make-fixture affwild2 DIR`` writes (``../shared/DATASETS.md``)::

    DIR/cropped_aligned/<video>/00001.jpg ...        112x112 face crops, a few missing
    DIR/batch1/<video>.mp4, DIR/batch2/<video>.avi   raw videos with a stereo 44.1 kHz soundtrack
    DIR/Third ABAW Annotations/VA_Estimation_Challenge/{Train_Set,Validation_Set}/<video>.txt
    DIR/Third ABAW Annotations/{EXPR_Classification_Challenge,AU_Detection_Challenge}/...   (same videos)

including a two-person video (``pair_left`` / ``pair_right`` annotate one raw ``pair`` video) and runs of -5.
The face brightness follows valence and the audio loudness follows arousal, so a model can learn something.

``mmer make-fixture biovid DIR`` writes BioVid Part A (:func:`make_biovid_fixture`), ``mmer make-fixture iemocap
DIR`` the IEMOCAP text annotations (:func:`make_iemocap_fixture`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FPS = 30
AUDIO_RATE = 44100
AFFWILD2_VIDEOS = {  # video id -> (split, frames, container)
    "vid_a": ("Train_Set", 330, ".mp4"), "vid_b": ("Train_Set", 260, ".mp4"), "pair": ("Train_Set", 310, ".mp4"),
    "vid_c": ("Train_Set", 280, ".avi"), "vid_d": ("Validation_Set", 320, ".mp4"),
    "vid_e": ("Validation_Set", 240, ".mp4"), "vid_f": ("Train_Set", 250, ".mp4"),
    "vid_g": ("Train_Set", 240, ".mp4"), "vid_h": ("Train_Set", 260, ".mp4"),  # 7 train groups: 6 folds fit
}


def _smooth(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n)
    x = sum(np.sin(2 * np.pi * t / rng.uniform(20, 90) + rng.uniform(0, 6.3)) for _ in range(2))
    return np.clip(x / 2, -1, 1)


def write_video(path: Path, frames: np.ndarray, wave: np.ndarray | None, fps: int = FPS) -> None:
    """frames (N, H, W, 3) uint8 at ``fps``; wave (S,) float32 mono at AUDIO_RATE, written as stereo (None: no
    soundtrack)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    avi = path.suffix == ".avi"
    with av.open(str(path), mode="w") as c:
        vs = c.add_stream("mpeg4", rate=fps)
        vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if wave is not None:  # every stream exists before the first packet is muxed
            a = c.add_stream("pcm_s16le" if avi else "aac", rate=AUDIO_RATE)
            a.layout = "stereo"
        for img in frames:
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        if wave is None:
            for p in vs.encode(None):
                c.mux(p)
            return
        for s in range(0, len(wave), 1024):
            chunk = wave[s:s + 1024]
            stereo = np.stack([chunk, chunk])
            if avi:
                arr, fmt = (stereo.T.reshape(1, -1) * 32767).astype(np.int16), "s16"
            else:
                arr, fmt = stereo.astype(np.float32), "fltp"
            frame = av.AudioFrame.from_ndarray(arr, format=fmt, layout="stereo")
            frame.sample_rate, frame.pts = AUDIO_RATE, s
            for p in a.encode(frame):
                c.mux(p)
        for stream in (vs, a):
            for p in stream.encode(None):
                c.mux(p)


def _write_expr_au(ann: Path, split: str, person: str, valence: np.ndarray, arousal: np.ndarray,
                   rng: np.random.Generator) -> None:
    """EXPR and AU files that follow the same signals: Happiness when valence > 0.3, Sadness / Anger when it is
    below -0.3 (low / high arousal), else Neutral; AU12 when valence > 0.2, AU4 when below -0.2, AU25 when arousal
    > 0.3. A short run of each is unlabelled (-1)."""
    from data_modules.affwild2_files import AU_NAMES, EXPR_CLASSES

    n = len(valence)
    expr = np.where(valence > 0.3, 4, np.where(valence < -0.3, np.where(arousal > 0, 1, 5), 0))
    au = np.zeros((n, len(AU_NAMES)), int)
    au[:, AU_NAMES.index("AU12")] = valence > 0.2
    au[:, AU_NAMES.index("AU4")] = valence < -0.2
    au[:, AU_NAMES.index("AU25")] = arousal > 0.3
    start = int(rng.integers(0, n - 8))
    expr[start:start + 6] = -1
    au[start + 2:start + 8] = -1
    for folder, header, rows in (("EXPR_Classification_Challenge", EXPR_CLASSES, [str(e) for e in expr]),
                                 ("AU_Detection_Challenge", AU_NAMES, [",".join(map(str, r)) for r in au])):
        (ann / folder / split).mkdir(parents=True, exist_ok=True)
        (ann / folder / split / f"{person}.txt").write_text("\n".join([",".join(header), *rows]) + "\n")


def make_affwild2_fixture(root: str | Path, seed: int = 0, crop_size: int = 112) -> Path:
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    ann = root / "Third ABAW Annotations" / "VA_Estimation_Challenge"
    for video, (split, n, suffix) in AFFWILD2_VIDEOS.items():
        valence, arousal = _smooth(rng, n), _smooth(rng, n)
        faces = (96 + 80 * valence)[:, None, None, None] * np.ones((n, crop_size, crop_size, 3))
        faces = np.clip(faces + rng.normal(0, 8, faces.shape), 0, 255).astype(np.uint8)
        t = np.arange(int(n / FPS * AUDIO_RATE)) / AUDIO_RATE
        loud = np.interp(t * FPS, np.arange(n), 0.05 + 0.2 * (arousal + 1))
        wave = (loud * np.sin(2 * np.pi * 300 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
        small = faces[:, ::4, ::4] if crop_size >= 64 else faces
        write_video(root / ("batch2" if suffix == ".avi" else "batch1") / f"{video}{suffix}", small, wave)
        people = {"pair_left": 0, "pair_right": 1} if video == "pair" else {video: 0}
        for person, offset in people.items():
            crop_dir = root / "cropped_aligned" / person
            crop_dir.mkdir(parents=True, exist_ok=True)
            missing = set(rng.choice(n, size=3, replace=False).tolist())  # no face detected on these frames
            for k in range(n):
                if k not in missing:
                    Image.fromarray(np.roll(faces[k], offset, axis=0)).save(crop_dir / f"{k + 1:05d}.jpg")
            labelled = np.ones(n, bool)
            start = int(rng.integers(0, n - 12))
            labelled[start:start + 10] = False  # a run of -5
            lines = ["valence,arousal"] + [f"{v:.3f},{a:.3f}" if ok else "-5,-5"
                                           for v, a, ok in zip(valence, arousal, labelled)]
            (ann / split).mkdir(parents=True, exist_ok=True)
            (ann / split / f"{person}.txt").write_text("\n".join(lines) + "\n")
            _write_expr_au(root / "Third ABAW Annotations", split, person, valence, arousal, rng)
    return root


def make_biovid_fixture(root: str | Path, seed: int = 0, subjects: int = 6, trials: int = 2,
                        frame_size: tuple[int, int] = (48, 64)) -> Path:
    """BioVid Part A layout: ``samples.csv``, ``biosignals_filtered/<subject>/<sample>_bio.csv`` (512 Hz, 2,816
    rows) and ``video/<subject>/<sample>.mp4`` (25 fps, 138 frames, no audio) for ``subjects`` x 5 classes x
    ``trials``. Pain level c (0..4) raises the skin conductance (gsr) within the trial and brightens the lower half
    of the face, so both modalities carry the class; each subject has its own gsr offset and scale."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = ["subject_id\tsubject_name\tclass_id\tclass_name\tsample_id\tsample_name"]
    n_bio, n_frames, h, w = 2816, 138, *frame_size
    t = np.arange(n_bio) / 512.0
    sample_id = 0
    for s in range(subjects):
        subject = f"0{71309 + s * 11}_{'wm'[s % 2]}_{21 + 3 * s}"
        offset, scale = rng.uniform(2, 12), rng.uniform(0.5, 2)
        for c, class_name in enumerate(("BL1", "PA1", "PA2", "PA3", "PA4")):
            for trial in range(trials):
                name = f"{subject}-{class_name}-{trial + 1:03d}"
                rows.append(f"{s}\t{subject}\t{c}\t{class_name}\t{sample_id}\t{name}")
                sample_id += 1
                rise = c / 4 * np.clip((t - 1.5) / 2.5, 0, 1)  # pain onset after 1.5 s
                gsr = offset + scale * (rise + 0.15 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6.3)))
                gsr += 0.05 * rng.standard_normal(n_bio)
                ecg = np.sin(2 * np.pi * 1.2 * t) ** 15 + 0.05 * rng.standard_normal(n_bio)
                emg = (0.1 + 0.1 * c) * rng.standard_normal(n_bio)
                bio = root / "biosignals_filtered" / subject / f"{name}_bio.csv"
                bio.parent.mkdir(parents=True, exist_ok=True)
                lines = ["time\tgsr\tecg\temg_trapezius"] + [
                    f"{int(ti * 1e6)}\t{g:.5f}\t{e:.5f}\t{m:.5f}" for ti, g, e, m in zip(t, gsr, ecg, emg)]
                bio.write_text("\n".join(lines) + "\n")
                level = 70 + 30 * c * np.clip((np.arange(n_frames) / 25 - 1.5) / 2.5, 0, 1)
                frames = np.full((n_frames, h, w, 3), 90.0)
                frames[:, h // 2:] = level[:, None, None, None]
                frames = np.clip(frames + rng.normal(0, 6, frames.shape), 0, 255).astype(np.uint8)
                write_video(root / "video" / subject / f"{name}.mp4", frames, None, fps=25)
    (root / "samples.csv").write_text("\n".join(rows) + "\n")
    return root


IEMOCAP_LINES = {  # code -> utterances that say it (so a text model can learn the fixture)
    "hap": ["I am so happy for you!", "This is wonderful news.", "I love it, thank you."],
    "exc": ["Oh wow, we won the trip!", "I can't wait, this is amazing!", "Yes! Let's go right now!"],
    "sad": ["I miss him so much.", "It is all gone now.", "I just feel empty."],
    "neu": ["The meeting is at three.", "Okay, I will check.", "It's on the table."],
    "ang": ["Stop lying to me!", "This is ridiculous, get out!", "I am sick of this!"],
    "fru": ["Why does nothing ever work?", "I already filled in that form twice.", "This line never moves."],
    "xxx": ["Well, I don't know.", "Hm.", "Maybe."],
    "sur": ["What? Really?", "No way!", "You did what?"],
}


IEMOCAP_LEVEL = {"ang": 0.9, "hap": 0.8, "exc": 0.8, "sur": 0.6, "fru": 0.5, "neu": 0.3, "sad": 0.1}


def write_wav(path: Path, wave: np.ndarray, rate: int) -> None:
    """Mono 16-bit PCM wav (the stdlib writer)."""
    import wave as wavfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with wavfile.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes())


def make_iemocap_fixture(root: str | Path, seed: int = 0, dialogues_per_session: int = 2,
                         utterances: int = 8, media: bool = True) -> Path:
    """``IEMOCAP_full_release`` layout: Session1..5/dialog/{EmoEvaluation,transcriptions}/<dialogue>.txt with the
    real line formats (headers, annotator lines, tab-separated label lines, times), utterances alternating F/M and
    labelled from all six ERC classes plus some xxx/sur (context, masked). With ``media``: 16 kHz sentence wavs
    ``sentences/wav/<dialogue>/<utterance>.wav`` (louder for angry/happy) and a dialogue video
    ``dialog/avi/DivX/<dialogue>.avi`` (64x48, 10 fps, brighter during angry/happy utterances); Session1's first
    dialogue lacks one wav and Session2's second dialogue has no video."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    codes = list(IEMOCAP_LINES)
    for k in range(1, 6):
        dialog = root / f"Session{k}" / "dialog"
        for d in range(dialogues_per_session):
            name = f"Ses0{k}{'FM'[d % 2]}_{'impro' if d % 2 == 0 else 'script'}0{d + 1}"
            evaluation = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
            transcript, t, spans = [], 2.0, []
            for u in range(utterances):
                speaker = "FM"[u % 2]
                code = codes[int(rng.integers(0, len(codes)))]
                utt = f"{name}_{speaker}{u // 2:03d}"
                start, end = t, t + float(rng.uniform(1.0, 3.0))
                t = end + 0.5
                evaluation += [f"[{start:.4f} - {end:.4f}]\t{utt}\t{code}\t[2.5000, 3.0000, 2.5000]",
                               f"C-E1:\t{code.title()};\t()", "A-E1:\tval 3; act 3; dom  3;\t()", ""]
                text = IEMOCAP_LINES[code][int(rng.integers(0, 3))]
                transcript.append(f"{utt} [{start:08.4f}-{end:08.4f}]: {text}")
                spans.append((start, end, IEMOCAP_LEVEL.get(code, 0.3)))
                if media and not (k == 1 and d == 0 and u == 3):  # one missing sentence wav
                    tone = np.sin(2 * np.pi * 200 * np.arange(int((end - start) * 16000)) / 16000)
                    write_wav(root / f"Session{k}" / "sentences" / "wav" / name / f"{utt}.wav",
                              (0.5 * IEMOCAP_LEVEL.get(code, 0.3) * tone).astype(np.float32), 16000)
            for folder, lines in (("EmoEvaluation", evaluation), ("transcriptions", transcript[::-1])):
                (dialog / folder).mkdir(parents=True, exist_ok=True)
                (dialog / folder / f"{name}.txt").write_text("\n".join(lines) + "\n")
            if media and not (k == 2 and d == 1):  # one dialogue without its video
                fps = 10
                level = np.full(int((t + 1.0) * fps), 0.2)
                for start, end, lv in spans:
                    level[int(start * fps):int(end * fps)] = lv
                frames = np.clip(40 + 180 * level[:, None, None, None] + rng.normal(0, 5, (len(level), 48, 64, 3)),
                                 0, 255).astype(np.uint8)
                write_video(dialog / "avi" / "DivX" / f"{name}.avi", frames, None, fps=fps)
    return root


MELD_HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime"
MELD_LINES = {"neutral": "Okay, the keys are on the table.", "joy": "This is the best day ever!",
              "sadness": "I really miss her.", "anger": "Get out of my apartment!", "surprise": "Wait, what? Really?",
              "fear": "Did you hear that noise?", "disgust": "Ew, that smells awful."}
MELD_SENTIMENT = {"neutral": "neutral", "joy": "positive", "surprise": "positive", "sadness": "negative",
                  "anger": "negative", "fear": "negative", "disgust": "negative"}


def write_faces(folder: Path, count: int, brightness: float, rng: np.random.Generator) -> None:
    """``count`` 32x32 PNG face crops of the given mean brightness in ``folder``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = np.clip(brightness + rng.normal(0, 5, (32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"face_{i}.png")


def make_meld_fixture(root: str | Path, seed: int = 0, dialogues: tuple[int, int, int] = (6, 3, 3),
                      utterances: int = 4) -> Path:
    """MELD layout: ``{train,dev,test}_sent_emo.csv`` (the official header, quoted times, an utterance-id gap) and
    clips ``dia{D}_utt{U}.mp4`` (64x48 at 24 fps with a 44.1 kHz soundtrack) in ``train_splits/``,
    ``dev_splits_complete/`` and ``output_repeated_splits_test/``; one train clip is missing. Face crops as a
    detector would leave them, ``faces/<split>/dia{D}_utt{U}/face_0.png, face_1.png`` (32x32), for every utterance
    but train dia0_utt0 (no face found). Invented lines (never MELD's text); joy/anger are loud and bright, sadness
    quiet and dark."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    emotions = list(MELD_LINES)
    folders = {"train": "train_splits", "dev": "dev_splits_complete", "test": "output_repeated_splits_test"}
    level = {"joy": 0.9, "anger": 0.8, "surprise": 0.6, "fear": 0.4, "neutral": 0.3, "disgust": 0.3, "sadness": 0.1}
    serial = 1
    for (split, folder), count in zip(folders.items(), dialogues):
        rows = [MELD_HEADER]
        for d in range(count):
            ids = [u for u in range(utterances + 1) if u != 2][:utterances]  # utterance ids 0, 1, 3, 4: a gap
            for k, u in enumerate(ids):
                emotion = emotions[int(rng.integers(0, len(emotions)))]
                speaker = ("Ross", "Rachel", "Monica")[k % 3]
                text = MELD_LINES[emotion].replace('"', '""')
                rows.append(f'{serial},"{text}",{speaker},{emotion},{MELD_SENTIMENT[emotion]},{d},{u},1,1,'
                            f'"00:00:{k:02d},000","00:00:{k + 1:02d},500"')
                serial += 1
                if not (split == "train" and d == 0 and u == 0):  # that utterance: no face found
                    write_faces(root / "faces" / split / f"dia{d}_utt{u}", 2, 40 + 180 * level[emotion], rng)
                if split == "train" and d == 0 and u == 1:
                    continue  # a missing clip
                n = 36
                frames = np.full((n, 48, 64, 3), 40 + 180 * level[emotion])
                frames = np.clip(frames + rng.normal(0, 5, frames.shape), 0, 255).astype(np.uint8)
                t = np.arange(int(1.5 * AUDIO_RATE)) / AUDIO_RATE
                wave = (level[emotion] * 0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
                write_video(root / folder / f"dia{d}_utt{u}.mp4", frames, wave, fps=24)
        (root / f"{split}_sent_emo.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


from mmer.fixtures_emer import make_emer_fixture  # noqa: E402
from mmer.fixtures_groupwalk import make_egait_fixture, make_groupwalk_fixture  # noqa: E402  (uses write_video)

FIXTURES = {"affwild2": make_affwild2_fixture, "biovid": make_biovid_fixture, "iemocap": make_iemocap_fixture,
            "meld": make_meld_fixture, "groupwalk": make_groupwalk_fixture,
            "egait": make_egait_fixture, "emer": make_emer_fixture}
