"""BentoML as a benchmark peer: one service worker that loads the ONNX model with onnxruntime and
answers the same /v1/infer body, merging concurrent requests' rows into one session.run with
BentoML's adaptive batching (batchable API, batch_dim 0).

    python bentoml_peer.py MODEL_DIR PORT [--max-batch 32] [--max-latency-ms 50]

Runs `bentoml serve` on 127.0.0.1:PORT (a circus arbiter plus one service worker process).
Set PEER_LOG_BATCHES=1 to print each merged batch's row count to stderr.
"""
import os
import sys

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # same ONNX Runtime settings as modelfn-fn
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")

if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("model_dir")
    p.add_argument("port", type=int)
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--max-latency-ms", type=int, default=50)
    a = p.parse_args()
    os.environ.update(PEER_MODEL_DIR=os.path.abspath(a.model_dir), PEER_MAX_BATCH=str(a.max_batch),
                      PEER_MAX_LATENCY_MS=str(a.max_latency_ms))
    here = os.path.dirname(os.path.abspath(__file__))
    os.execv(sys.executable, [sys.executable, "-m", "bentoml", "serve", "bentoml_peer:Peer",
                              "--working-dir", here, "--host", "127.0.0.1", "--port", str(a.port)])

import json
from typing import Annotated

import bentoml
import numpy as np
import onnxruntime as ort
from pydantic import BeforeValidator, PlainSerializer

model_dir = os.environ["PEER_MODEL_DIR"]
manifest = json.load(open(f"{model_dir}/manifest.json"))
input_name = manifest["inputs"][0]["name"]
log_batches = os.environ.get("PEER_LOG_BATCHES") == "1"


def _rows(inputs):  # "inputs" is rows, or {INPUT_NAME: rows}
    return inputs[input_name] if isinstance(inputs, dict) else inputs


def _envelope(rows):  # one request's slice of the batch: a list of {output name: row}
    return {"model": manifest["name"], "version": manifest["version"],
            "outputs": {n: [r[n].tolist() for r in rows] for n in (rows[0] if rows else ())}}


Rows = Annotated[list, BeforeValidator(_rows)]
Reply = Annotated[list, PlainSerializer(_envelope)]


@bentoml.service(name="peer", workers=1, logging={"access": {"enabled": False}})
class Peer:
    def __init__(self):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(f"{model_dir}/model.onnx", opts,
                                            providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]

    @bentoml.api(route="/v1/infer", batchable=True, batch_dim=0,
                 max_batch_size=int(os.environ.get("PEER_MAX_BATCH", "32")),
                 max_latency_ms=int(os.environ.get("PEER_MAX_LATENCY_MS", "50")))
    def infer(self, inputs: Rows) -> Reply:
        x = np.asarray(inputs, dtype=np.float32)
        if log_batches:
            print(f"batch rows={len(x)}", file=sys.stderr, flush=True)
        outputs = self.session.run(self.output_names, {input_name: x})
        return [dict(zip(self.output_names, r)) for r in zip(*outputs)]
