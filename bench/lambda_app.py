"""The seed's Python Lambda handler, as the Lambda benchmark's peer: onnxruntime loads the model at
import (Lambda's init phase); the handler answers the seed body, directly or from an API Gateway
HTTP API event."""
import base64
import json
import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

MODEL_DIR = os.environ.get("MODEL_DIR", os.path.join(os.path.dirname(__file__), "model"))
_opts = ort.SessionOptions()
_opts.intra_op_num_threads = 1
_opts.inter_op_num_threads = 1
session = ort.InferenceSession(os.path.join(MODEL_DIR, "model.onnx"), _opts, providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name
output_names = [o.name for o in session.get_outputs()]


def handler(event, context):
    body = event
    if "requestContext" in event:
        raw = event.get("body") or "{}"
        body = json.loads(base64.b64decode(raw) if event.get("isBase64Encoded") else raw)
    inputs = body["inputs"]
    if isinstance(inputs, dict):
        inputs = inputs[input_name]
    outputs = session.run(output_names, {input_name: np.asarray(inputs, dtype=np.float32)})
    result = {"outputs": {n: o.tolist() for n, o in zip(output_names, outputs)}}
    if "requestContext" in event:
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(result)}
    return result
