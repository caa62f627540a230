"""Small datasets the checks feed to learner code: bundled with scikit-learn, no downloads."""

from __future__ import annotations

from pathlib import Path


def breast_cancer_csv(folder: Path) -> Path:
    """scikit-learn's breast-cancer table (569 rows, 30 features, `target`) as CSV."""
    from sklearn.datasets import load_breast_cancer

    path = Path(folder) / "breast_cancer.csv"
    if not path.exists():
        load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    return path


BREAST_CANCER_ROWS = 569
