"""Lab 3.6: a custom KServe predictor for the Stage 2 classifier.

KServe's sklearn runtime serves a plain `model.joblib` with no code from you. You write
a predictor when a model needs more than that; this one takes each instance as an object
of named features and refuses incomplete ones with a 400 that names what is missing.
Run it on your laptop with the real KServe model server:

    python predictor.py --model_name cancer-classifier --model_dir local_outputs/model --http_port 8080 --enable_grpc false

then ask it for a prediction (v1 protocol):

    curl -s localhost:8080/v1/models/cancer-classifier:predict \
         -H 'Content-Type: application/json' -d @local_outputs/request.json

Check your work with `kflab check 3.6`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import kserve
import pandas as pd
from kserve.errors import InvalidInput

MODEL_FILE = "model.joblib"  # the file name KServe's sklearn runtime also looks for


# --8<-- [start:predict]
class CancerClassifier(kserve.Model):
    """The v1 protocol: {"instances": [{feature: value, ...}, ...]} -> {"predictions": [class, ...]}."""

    def __init__(self, name: str, model_dir: str):
        super().__init__(name)
        self.model_dir = Path(model_dir)
        self.model = None
        self.features: list[str] = []

    def load(self) -> bool:
        # KServe's storage initializer downloads storageUri into the model dir (/mnt/models in a pod).
        self.model = joblib.load(self.model_dir / MODEL_FILE)
        self.features = [str(f) for f in self.model.feature_names_in_]
        self.ready = True
        return self.ready

    def rows(self, payload: dict) -> pd.DataFrame:
        """The instances as a table in the model's feature order, or InvalidInput (HTTP 400)."""
        instances = payload.get("instances") if isinstance(payload, dict) else None
        if not isinstance(instances, list) or not instances:
            raise InvalidInput('Expected a JSON body {"instances": [...]}, a non-empty list of objects of named '
                               "features, sent with the header Content-Type: application/json.")
        for i, instance in enumerate(instances):
            if not isinstance(instance, dict):
                raise InvalidInput(f"Instance {i} is not an object of named features.")
            missing = [f for f in self.features if f not in instance]
            if missing:
                raise InvalidInput(f"Instance {i} lacks {len(missing)} feature(s): {', '.join(missing[:5])}.")
        return pd.DataFrame(instances, columns=self.features)

    def predict(self, payload: dict, headers: dict | None = None, response_headers: dict | None = None) -> dict:
        rows = self.rows(payload)
        return {"predictions": self.model.predict(rows).tolist()}
# --8<-- [end:predict]


def build_parser() -> argparse.ArgumentParser:
    # KServe's own options (--model_name, --http_port, --enable_grpc ...) plus the model's folder.
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_dir", default="/mnt/models", help="the folder that holds model.joblib")
    return parser


if __name__ == "__main__":
    args, _ = build_parser().parse_known_args()
    model = CancerClassifier(args.model_name, args.model_dir)
    model.load()
    kserve.ModelServer().start([model])
