#!/usr/bin/env python3
"""Trains the bundled example models on data that scikit-learn ships, exports them to ONNX and
writes sample requests with the outputs ONNX Runtime gives for them.

    python3 -m venv /tmp/ex && /tmp/ex/bin/pip install -r scripts/requirements-examples.txt
    /tmp/ex/bin/python examples/train.py && build/modelfn manifest ...   (see examples/README.md)

Models:
  digits         - 8x8 handwritten digit images (load_digits, 1797 samples), StandardScaler + MLP
                   with one hidden layer of 64; input "pixels" FP32 [N, 64], outputs "label" INT64
                   [N] and "probabilities" FP32 [N, 10].
  breast_cancer  - Wisconsin diagnostic table (load_breast_cancer, 569 rows, 30 features),
                   gradient-boosted trees; input "features" FP32 [N, 30], outputs "label" INT64 [N]
                   and "probabilities" FP32 [N, 2].
"""
import json
import os

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnxruntime as ort
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))


def export(name, model, input_name, X_train, X_test, y_test, n_samples):
    out_dir = os.path.join(HERE, name)
    os.makedirs(out_dir, exist_ok=True)
    onx = to_onnx(model, initial_types=[(input_name, FloatTensorType([None, X_train.shape[1]]))],
                  options={id(model): {"zipmap": False}}, target_opset=17)
    # skl2onnx names the outputs output_label / output_probability; give them plain names.
    renames = {"output_label": "label", "output_probability": "probabilities"}
    for node in onx.graph.node:
        node.output[:] = [renames.get(o, o) for o in node.output]
    for out in onx.graph.output:
        out.name = renames.get(out.name, out.name)
    onx.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "N"
    onx.graph.output[1].type.tensor_type.shape.dim[0].dim_param = "N"
    onx.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    path = os.path.join(out_dir, "model.onnx")
    with open(path, "wb") as f:
        f.write(onx.SerializeToString())

    accuracy = float(model.score(X_test, y_test))
    sample = X_test[:n_samples].astype(np.float32)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    label, proba = sess.run(["label", "probabilities"], {input_name: sample})
    req_dir = os.path.join(out_dir, "requests")
    os.makedirs(req_dir, exist_ok=True)
    with open(os.path.join(req_dir, "infer.json"), "w") as f:
        json.dump({"inputs": sample.tolist()}, f)
    with open(os.path.join(req_dir, "infer_named.json"), "w") as f:
        json.dump({"inputs": {input_name: sample[:1].tolist()}}, f)
    with open(os.path.join(req_dir, "v2_infer.json"), "w") as f:
        json.dump({"id": "sample-1", "inputs": [{"name": input_name, "shape": list(sample.shape),
                   "datatype": "FP32", "data": sample.flatten().tolist()}]}, f)
    with open(os.path.join(req_dir, "batch.json"), "w") as f:
        json.dump({"items": [{"inputs": [row]} for row in sample[:3].tolist()] +
                   [{"inputs": [[1.0, 2.0]]}]}, f)
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump({"label": label.tolist(), "probabilities": proba.tolist(),
                   "sklearn_label": model.predict(X_test[:n_samples]).tolist(),
                   "test_accuracy": accuracy}, f, indent=1)
    print(f"{name}: test accuracy {accuracy:.4f}, {os.path.getsize(path)} bytes")


def main():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    digits = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,), max_iter=500,
                                                           random_state=0))
    digits.fit(X_train, y_train)
    export("digits", digits, "pixels", X_train, X_test, y_test, 8)

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    cancer = GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0)
    cancer.fit(X_train, y_train)
    export("breast_cancer", cancer, "features", X_train, X_test, y_test, 8)


if __name__ == "__main__":
    main()
