"""The seed's approach, as a benchmark peer: a Python HTTP handler (FastAPI + uvicorn, one worker)
that loads the ONNX model with onnxruntime at import and answers the same /v1/infer body.

    python fastapi_peer.py MODEL_DIR PORT
"""
import json
import os
import sys

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # same ONNX Runtime settings as modelfn-fn

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

model_dir, port = sys.argv[1], int(sys.argv[2])
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
session = ort.InferenceSession(f"{model_dir}/model.onnx", opts, providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name
output_names = [o.name for o in session.get_outputs()]
manifest = json.load(open(f"{model_dir}/manifest.json"))
app = FastAPI()


@app.post("/v1/infer")
async def infer(request: Request):
    body = await request.json()
    inputs = body["inputs"]
    if isinstance(inputs, dict):
        inputs = inputs[input_name]
    x = np.asarray(inputs, dtype=np.float32)
    outputs = session.run(output_names, {input_name: x})
    return JSONResponse({"model": manifest["name"], "version": manifest["version"],
                         "outputs": {n: o.tolist() for n, o in zip(output_names, outputs)}})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)
