"""Your own footage: fit on normal clips, score another clip, write an annotated video.

    python examples/own_video.py --train normal1.mp4 normal2.mp4 --video new.mp4 [--output-dir DIR]

Without ``--train``/``--video`` it makes synthetic clips first (a quick look, seconds on a
CPU). The annotated video shows the detector's heat map where it has ``score_maps`` and a
live score curve under each frame; frames above the threshold get a red border.
The same thing from the command line: ``pyvad fit ...`` then ``pyvad score new.mp4
--model m.pyvad --overlay annotated.mp4``.
"""

from __future__ import annotations

import argparse
from collections import deque
from pathlib import Path

import pyvad
from pyvad.streaming import Alert, AlertTracker, resolve_threshold
from pyvad.synthetic import make_train_test
from pyvad.video import VideoWriter, write_video
from pyvad.viz import annotate_frame, plot_score_curves


def make_clips(folder: Path) -> tuple[list[Path], Path]:
    """Synthetic stand-ins for your footage: normal training clips and one test clip."""
    train, test = make_train_test(n_train=2, n_test=2, n_frames=64, random_state=0)
    clips = [write_video(folder / f"normal_{i}.avi", video, fps=25) for i, video in enumerate(train.videos)]
    return clips, write_video(folder / "new.avi", test.videos[0], fps=25)


def describe(alert: Alert) -> str:
    """One line per alert: the start of an abnormal interval, or the whole interval at its end."""
    if alert.kind == "start":
        return f"abnormal from {alert.start_time:.2f} s (frame {alert.start})"
    return f"abnormal frames {alert.start}-{alert.end} ({alert.start_time:.2f}-{alert.end_time:.2f} s)"


def main(train: list[Path], video: Path, output_dir: Path) -> dict[str, object]:
    det = pyvad.MotionBaselineDetector().fit([str(p) for p in train])  # normal footage only
    threshold = resolve_threshold(det)  # from contamination: no labels needed
    tracker, recent, scores = AlertTracker(min_frames=3), deque(maxlen=150), []
    output_dir.mkdir(parents=True, exist_ok=True)
    with VideoWriter(output_dir / f"{video.stem}_annotated.mp4", fps=pyvad.Video(video).fps) as writer:
        for record in det.score_stream(str(video), smoothing="centred", with_maps=hasattr(det, "score_maps")):
            recent.append(record.score)
            scores.append(record.score)
            map_range = (threshold - 1.0, threshold + 1.0) if record.map is not None else None
            writer.write(annotate_frame(record.frame, list(recent), threshold=threshold,
                                        heatmap=record.map, map_range=map_range))
            for alert in tracker.update(record.index, record.timestamp, record.score, record.abnormal):
                print(describe(alert))
    for alert in tracker.close():  # an interval still open when the video ends
        print(describe(alert))
    curve = plot_score_curves([scores], output_dir / f"{video.stem}_scores.png", names=[video.stem],
                              threshold=threshold)
    print(f"annotated video: {writer.path}; score curve: {curve}")
    return {"annotated": writer.path, "curve": curve, "n_frames": len(scores)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, nargs="+", help="normal training clips (files or frame folders)")
    parser.add_argument("--video", type=Path, help="clip to score")
    parser.add_argument("--output-dir", type=Path, default=Path("pyvad_own_video"))
    args = parser.parse_args()
    if (args.train is None) != (args.video is None):
        parser.error("give both --train and --video, or neither (synthetic clips)")
    if args.train is None:
        args.train, args.video = make_clips(args.output_dir)
    main(args.train, args.video, args.output_dir)
