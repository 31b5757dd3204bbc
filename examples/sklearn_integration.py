"""pyvad detectors inside scikit-learn: Pipeline, clone, GridSearchCV, roc_auc_score.

    python examples/sklearn_integration.py

Model selection needs labels, and labels must never come from the test set. Here a
labelled **validation** split (videos with anomalies, kept apart from the test videos)
chooses the fusion weights of the baseline's two score components; the chosen detector
is then refitted on the normal training videos only and evaluated once on the test
videos. Runs in seconds on synthetic videos.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from pyvad.fusion import ScoreFusion
from pyvad.methods import MotionBaselineDetector
from pyvad.metrics import make_video_scorer, micro_auc
from pyvad.synthetic import make_train_test
from pyvad.video import Video, as_videos

WEIGHTS = [{"motion": 1.0, "appearance": 1.0}, {"motion": 1.0, "appearance": 0.0}, {"motion": 0.0, "appearance": 1.0}]


def to_grayscale(X):
    """Lazy grayscale views of the videos (a preprocessing step for the Pipeline)."""
    return [Video(video, grayscale=True) for video in as_videos(X)]


def main(n_frames: int = 64) -> dict[str, float]:
    train, labelled = make_train_test(n_train=3, n_test=8, n_frames=n_frames, random_state=0)
    validation, test = slice(0, 4), slice(4, 8)
    detector = MotionBaselineDetector(grid=(3, 4), fusion=ScoreFusion(smoothing="moving_average", window=9))

    # 1. A Pipeline: preprocessing, then the detector; score_samples is lower = more abnormal.
    pipe = make_pipeline(FunctionTransformer(to_grayscale), clone(detector)).fit(train.videos)
    test_labels = np.concatenate(labelled.frame_labels[test])
    pipeline_auc = roc_auc_score(test_labels, -pipe.score_samples(labelled.videos[test]))
    print(f"Pipeline(grayscale, baseline): test AUC {pipeline_auc:.3f}")

    # 2. GridSearchCV over fusion weights: fit on normal videos, score on the labelled validation videos.
    X = train.videos + labelled.videos[validation]
    y = [np.zeros(len(v), np.uint8) for v in train.videos] + labelled.frame_labels[validation]
    fold = [(np.arange(len(train.videos)), np.arange(len(train.videos), len(X)))]
    search = GridSearchCV(detector, {"fusion__weights": WEIGHTS}, scoring=make_video_scorer("micro_auc"),
                          cv=fold, refit=False).fit(X, y)
    print(f"best weights on validation: {search.best_params_['fusion__weights']} "
          f"(validation AUC {search.best_score_:.3f})")

    # 3. clone() the winner, refit on the normal training videos only, evaluate once on test.
    best = clone(detector).set_params(**search.best_params_).fit(train.videos)
    test_auc = micro_auc(labelled.frame_labels[test], best.score_frames(labelled.videos[test]))
    print(f"selected detector: test micro AUC {test_auc:.3f}")
    return {"pipeline_auc": pipeline_auc, "validation_auc": search.best_score_, "test_auc": test_auc}


if __name__ == "__main__":
    main()
