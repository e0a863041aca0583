"""``mmer predict RUN_DIR INPUT... [--out DIR] [--faces DIR] [--abaw]``: a finished run's predictions for
recordings without labels, with the windows, stitching, post-processing and fold merge of training.

Each input (a file, or a folder of the files the run's data module reads: ``add_unlabelled``) becomes one CSV in
``--out`` (default ``RUN_DIR/predict/``) as soon as it is done, written atomically, so a long list resumes where it
stopped. An existing CSV is reused only when its record (``<name>.source.json``, written just before it) says that
this run predicted it from this input as it is now (path, size, modification time) with faces from the same
source (the detector and its settings, or the --faces folder); anything else is predicted again. Inputs with the
same file name in different folders get distinct outputs (named by their path below the folder they share).
Per-frame models write one row per frame::

    video,frame,time_s,valence,arousal,face_found        (frame 1-based, as the ABAW files; time_s: the frame's own
                                                          time stamp from the first frame, so a variable-frame-rate
                                                          phone video keeps its true times)

with a PNG trace beside it (and with ``--abaw`` the challenge's ``<video>.txt``). Where faces were detected here (no
``--faces``), ``<video>.faces.png`` is a contact sheet of the aligned crops (:func:`mmer.data.faces.contact_sheet`)
and ``.faces/<video>/faces.csv`` gives each frame's box, eyes and how it was found. Dialogue models write one row per
utterance (``dialogue,utterance,<class probabilities>,prediction``); per-sample models one row per recording. A file that cannot be read is reported with its reason and the others still run; the command then
exits non-zero. Nothing half-written stays in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmer.config.build import build_datamodule
from mmer.core.errors import ConfigError, DataError
from mmer.core.io import atomic_write_text
from mmer.data.faces import (
    CropReport,
    contact_sheet,
    detector_identity,
    mtcnn_detector,
    read_crop_report,
    write_face_crops,
)
from mmer.data.media import frame_times, variable_rate, video_info
from mmer.evaluation.evaluator import evaluator_for
from mmer.evaluation.report import plot_trace
from mmer.runs.checkpoints import prediction_trainer
from mmer.runs.folder import RunFolder, load_run

log = logging.getLogger(__name__)


def expand_inputs(inputs: Sequence[str | Path], suffixes: Sequence[str]) -> list[Path]:
    """Files as given, and the files with one of ``suffixes`` inside any folder given (sorted, recursive)."""
    files = []
    for item in map(Path, inputs):
        if item.is_dir():
            inside = sorted(p for p in item.rglob("*") if p.is_file() and not p.name.startswith("."))
            found = [p for p in inside if p.suffix.lower() in suffixes]
            if not found:
                raise ConfigError(f"{item}: no {', '.join(suffixes)} files inside")
            if len(found) < len(inside):
                log.warning("%s: %d files that this model does not read (not %s) are left aside, e.g. %s", item,
                            len(inside) - len(found), "/".join(suffixes), next(p for p in inside if p not in found))
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise ConfigError(f"{item}: no such file or folder")
    return files


def output_names(files: Sequence[Path]) -> dict[Path, str]:
    """An output name per input: its stem, or, for stems that several inputs share, its path below the folder they
    share with ``/`` turned into ``__`` (``a/clip.mp4``, ``b/clip.mp4`` -> ``a__clip``, ``b__clip``)."""
    by_stem: dict[str, list[Path]] = {}
    for f in files:
        by_stem.setdefault(f.stem, []).append(f)
    names = {}
    for stem, group in by_stem.items():
        if len(group) == 1:
            names[group[0]] = stem
            continue
        resolved = [g.resolve() for g in group]
        common = Path(os.path.commonpath([str(r.parent) for r in resolved]))
        for g, r in zip(group, resolved):
            names[g] = "__".join(r.relative_to(common).with_suffix("").parts)
    return names


def source_record(run: RunFolder, path: Path, faces: Any = None) -> dict[str, Any]:
    """What an output was predicted from: the run (its folder's hash), the input as it is now and where its faces
    came from (``faces``: the detector's identity or the --faces folder; None for models without faces)."""
    stat = path.stat()
    return {"run": run.hash, "input": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "faces": faces}


def reusable(target: Path, record: dict[str, Any]) -> bool:
    """Whether ``target`` exists and its record says it was predicted by this run from this very input."""
    source = target.with_suffix(".source.json")
    if not target.is_file():
        return False
    try:
        same = json.loads(source.read_text()) == record
    except (OSError, ValueError):
        same = False
    if not same:
        log.warning("%s: not from this run and input as they are now (%s); predicting it again", target,
                    source.name if source.is_file() else "no record beside it")
    return same


def _rows(rec: Any, values: np.ndarray, ev: Any, dm: Any, times: np.ndarray | None = None) -> list[str]:
    """CSV rows (with the header first) of one recording's merged predictions (module doc); ``times``: per frame
    (s), else ``(frame - 1) / fps``."""
    classes = [f"p_{c}" for c in ev.columns] if ev.task.predicts_classes else list(ev.columns)
    label = [ev.columns[i] for i in values.argmax(1)] if ev.task.predicts_classes else None
    if dm.per_step_predictions:  # a dialogue: one row per utterance
        lines = [",".join(["dialogue", "utterance", *classes] + (["prediction"] if label else []))]
        for k, (name, row) in enumerate(zip(dm.step_names(rec.id), values)):
            lines.append(",".join([rec.id, name, *(f"{v:.6f}" for v in row)] + ([label[k]] if label else [])))
        return lines
    if not ev.task.per_frame:
        return [",".join(["recording", *classes] + (["prediction"] if label else [])),
                ",".join([rec.id, *(f"{v:.6f}" for v in values[0])] + ([label[0]] if label else []))]
    face_found = _face_found(dm, rec)
    fps = dm.frame_rate(rec)
    lines = [",".join(["video", "frame", "time_s", *classes] + (["face_found"] if face_found is not None else [])
                      + (["prediction"] if label else []))]
    for k, row in enumerate(values):
        time = times[k] if times is not None and k < len(times) else (k / fps if fps else None)
        cells = [rec.id, str(k + 1), "" if time is None else f"{time:.3f}", *(f"{v:.6f}" for v in row)]
        cells += ([str(int(face_found[k]))] if face_found is not None else []) + ([label[k]] if label else [])
        lines.append(",".join(cells))
    return lines


def _face_found(dm: Any, rec: Any) -> np.ndarray | None:
    """Per frame, whether a face crop was there (the visual input's mask); None for models without faces."""
    mask = dm.load(rec).input_masks.get("visual")
    return None if mask is None else np.asarray(mask, bool)


def _detector(choice: Any) -> Any:
    """The face detector to use: a callable as given (a batch of frames -> faces, :data:`mmer.data.faces.Detector`),
    MTCNN when installed, else None (with one warning)."""
    if choice is None or callable(choice):
        return choice

    detect = mtcnn_detector(min_face=24) if choice == "mtcnn" else None  # on frames downscaled to 360p
    if detect is None:
        log.warning("no face detector (pip install --no-deps facenet-pytorch gives MTCNN, whose weights ship in its "
                    "wheel) and no --faces folder: every frame's face is masked (face_found=0); the other "
                    "modalities still predict")
    return detect


def face_crops(video: Path, crops: Path, detect: Any, size: int, sheet: Path) -> CropReport:
    """``video``'s aligned crops in ``crops`` and their contact sheet at ``sheet``; crops that an earlier call made
    from this very file (size and time), with this detector (:func:`~mmer.data.faces.detector_identity`: its
    settings, e.g. MTCNN's smallest face) and crop size, are reused, not detected again."""
    stat = video.stat()
    record = {"input": str(video.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "face_size": size,
              "detector": detector_identity(detect)}
    source = crops.with_name(f"{crops.name}.source.json")
    try:
        report = read_crop_report(crops) if json.loads(source.read_text()) == record else None
    except (OSError, ValueError):
        report = None
    if report is None:
        report = write_face_crops(video, crops, detect, size)
        contact_sheet(crops, report.frames, sheet)
        atomic_write_text(source, json.dumps(record, indent=2))
        return report
    log.info("%s: reusing its face crops in %s", video, crops)
    if not sheet.is_file():
        contact_sheet(crops, report.frames, sheet)
    return report


def _times(path: Path) -> np.ndarray | None:
    """A video's frame times (s), saying once when its frame rate varies; None for inputs that are not videos."""
    try:
        times = frame_times(path)
    except DataError:
        return None
    if variable_rate(times, video_info(path)[0]):
        log.warning("%s: variable frame rate (steps of %.1f to %.1f ms): time_s is each frame's own time stamp", path,
                    1e3 * np.diff(times).min(), 1e3 * np.diff(times).max())
    return times


def predict_files(run_dir: str | Path, inputs: Sequence[str | Path], out: str | Path | None = None,
                  faces: str | Path | None = None, abaw: bool = False, overrides: Sequence[str] = (),
                  detector: Any = "mtcnn") -> Path:
    """Predict every input (module doc); returns the output folder. A model with a visual input and no ``faces``
    folder: faces are detected in each video (``detector="mtcnn"``: :mod:`mmer.data.faces`, when installed;
    a callable frame -> box; None: none) into ``<out>/.faces/<video>/``."""
    from tqdm.auto import tqdm

    if faces is not None and not Path(faces).is_dir():
        raise ConfigError(f"--faces {faces}: no such folder (give the folder of face crops, <faces>/<video>/00001.jpg, "
                          f"or leave --faces out to detect faces)")
    run = load_run(run_dir, overrides)
    out = Path(out) if out else run.run.predict_dir
    out.mkdir(parents=True, exist_ok=True)
    dm = build_datamodule(run.cfg)
    dm.cache_dir = str(out / ".mmer_cache")  # features of the new files, never beside the training data
    ev = evaluator_for(run.cfg, dm.target_spec())
    files = expand_inputs(inputs, dm.unlabelled_suffixes or ("",))
    detect = _detector(detector) if faces is None and "visual" in run.description["input_spec"] else None
    face_source = detector_identity(detect) if faces is None else str(Path(faces).resolve())
    if detect is not None:
        faces = out / ".faces"
    models = [m for _, m in run.models()]
    trainer = prediction_trainer(run.cfg)
    failed = {}
    names = output_names(files)
    for path in tqdm(files, desc="predicting", unit="file"):
        target, record = out / f"{names[path]}.csv", source_record(run.run, path, face_source)
        if reusable(target, record):  # done in an earlier run: resume past it
            continue
        try:
            if detect is not None and path.suffix.lower() != ".csv":
                face_crops(path, Path(faces) / names[path], detect, int(run.cfg.data.get("face_size", 112)),
                           out / f"{names[path]}.faces.png")
            recordings = dm.add_unlabelled(path, Path(faces) if faces else None, names[path])
            tables = [ev.table(trainer.predict(m, dataloaders=dm.predict_loader(recordings)), recordings)
                      for m in models]
        except DataError as exc:
            failed[str(path)] = str(exc)
            log.warning("not predicted: %s", exc)
            continue
        merged = ev.merge(tables)
        lines, times = [], _times(path) if ev.task.per_frame else None
        for rec in recordings:
            body = _rows(rec, merged[rec.id], ev, dm, times)
            lines += body if not lines else body[1:]
            if abaw:
                dm.export_predictions(out / "abaw", {rec.id: merged[rec.id]}, ev.target)
        if ev.task.per_frame and ev.task.kind == "values":
            for rec in recordings:
                plot_trace(out / f"{rec.id.replace('/', '__')}.png", merged[rec.id], ev.columns, f"{run.cfg.name}: {rec.id}",
                           dm.frame_rate(rec), _face_found(dm, rec))
        atomic_write_text(target.with_suffix(".source.json"), json.dumps(record, indent=2))
        atomic_write_text(target, "\n".join(lines) + "\n")  # last: its presence marks the input done
    if failed:
        atomic_write_text(out / "failed.txt", "".join(f"{p}\t{why}\n" for p, why in failed.items()))
        raise DataError(f"{len(failed)} of {len(files)} inputs could not be predicted (listed in {out / 'failed.txt'}); "
                        f"first: {next(iter(failed.values()))}")
    print(f"predictions of {len(files)} inputs in {out}")
    return out


def run(args: argparse.Namespace) -> int:
    predict_files(args.run_dir, args.inputs, args.out, args.faces, args.abaw, args.overrides,
                  None if args.detector == "none" else args.detector)
    return 0
