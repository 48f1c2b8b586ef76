"""The Python way to serve a text model without transformers, as a benchmark peer: FastAPI +
uvicorn (one worker), the `tokenizers` package and onnxruntime, doing what the version's manifest
pipeline declares for modelfn-fn: tokenize the texts (padded to the longest), run the model, and
report each `argmax` output as {"label", "index", "score"} with softmax scores.

    python fastapi_text_peer.py MODEL_DIR PORT
"""
import json
import os
import sys

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # same ONNX Runtime settings as modelfn-fn

import numpy as np
import onnxruntime as ort
import tokenizers
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

model_dir, port = sys.argv[1], int(sys.argv[2])
manifest = json.load(open(f"{model_dir}/manifest.json"))
pipeline = manifest["pipeline"]
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
session = ort.InferenceSession(f"{model_dir}/model.onnx", opts, providers=["CPUExecutionProvider"])
model_inputs = {i.name: i.type for i in session.get_inputs()}
text_inputs = [i for i in pipeline["inputs"] if i["source"] == "text"]
tokenizer = tokenizers.Tokenizer.from_file(f"{model_dir}/{text_inputs[0]['tokenizer']}")
if text_inputs[0].get("max_length"):
    tokenizer.enable_truncation(text_inputs[0]["max_length"])
tokenizer.enable_padding()
reports = {o["name"]: o for o in pipeline.get("outputs", [])}
labels = {n: open(f"{model_dir}/{o['labels']}").read().splitlines()
          for n, o in reports.items() if o.get("labels")}
output_names = [o.name for o in session.get_outputs()]
FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
app = FastAPI()


def argmax(name, logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    probs = e / e.sum(-1, keepdims=True)
    out = []
    for row in probs:
        i = int(row.argmax())
        item = {"index": i, "score": float(row[i])}
        if name in labels:
            item["label"] = labels[name][i]
        out.append(item)
    return out


@app.post("/v1/infer")
async def infer(request: Request):
    body = await request.json()
    texts = body["inputs"]
    single = isinstance(texts, str)
    encodings = tokenizer.encode_batch([texts] if single else texts)
    feeds = {}
    for spec in text_inputs:
        field = FIELDS[spec.get("field", spec["name"])]
        dtype = np.int32 if "int32" in model_inputs[spec["name"]] else np.int64
        feeds[spec["name"]] = np.array([getattr(e, field) for e in encodings], dtype=dtype)
    results = session.run(output_names, feeds)
    outputs = {}
    for name, value in zip(output_names, results):
        if reports.get(name, {}).get("report") == "argmax":
            rows = argmax(name, value)
            outputs[name] = rows[0] if single else rows
        else:
            outputs[name] = (value[0] if single else value).tolist()
    return JSONResponse({"model": manifest["name"], "version": manifest["version"],
                         "outputs": outputs})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)
