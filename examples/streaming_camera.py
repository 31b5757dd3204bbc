"""Live scoring from a webcam or an RTSP/HTTP stream, with alerts.

    python examples/streaming_camera.py --source 0                      # webcam 0
    python examples/streaming_camera.py --source rtsp://host/stream     # network camera
    python examples/streaming_camera.py                                 # no camera: a synthetic file

The detector is fitted on normal synthetic footage here; with your camera, fit it on
normal footage of the same camera (``pyvad fit ... --output m.pyvad``) and load it with
``pyvad.load``. Scores come out with bounded latency: ``hop`` new frames per window plus
the detector's future context; smoothing is causal (no look-ahead). Alerts mark the
start and the end of every abnormal interval.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from pyvad.methods import MotionBaselineDetector
from pyvad.streaming import AlertTracker
from pyvad.synthetic import make_train_test
from pyvad.video import write_video


def main(source: int | str | None = None, max_frames: int | None = None, hop: int = 4) -> list:
    train, test = make_train_test(n_train=2, n_test=2, n_frames=64, random_state=0)
    folder = Path(tempfile.mkdtemp())
    # Fit on footage encoded like the stream (compression changes pixel statistics).
    det = MotionBaselineDetector().fit([str(write_video(folder / f"normal_{i}.avi", v)) for i, v in enumerate(train.videos)])
    if source is None:  # no camera: stream a file instead, exactly as a camera would be streamed
        source = str(write_video(folder / "camera.avi", test.videos[0], fps=25))
    tracker, alerts, n_frames = AlertTracker(min_frames=3), [], 0
    for record in det.score_stream(source, hop=hop, smoothing="causal", max_frames=max_frames):
        n_frames += 1
        for alert in tracker.update(record.index, record.timestamp, record.score, record.abnormal):
            alerts.append(alert)
            print(f"[{record.timestamp:7.2f} s] {alert.kind} of abnormal activity (from frame {alert.start})")
    alerts += tracker.close()
    print(f"{n_frames} frames scored, {sum(a.kind == 'end' for a in alerts)} abnormal intervals")
    return alerts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="camera index (0, 1 ...), rtsp:// or http:// URL, or a video file")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")
    parser.add_argument("--hop", type=int, default=4, help="frames per scoring window (latency)")
    args = parser.parse_args()
    main(int(args.source) if args.source and args.source.isdigit() else args.source, args.max_frames, args.hop)
