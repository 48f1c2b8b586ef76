"""Ray Serve as a benchmark peer: one replica (FastAPI ingress) that loads the ONNX model with
onnxruntime and answers the same /v1/infer body, merging concurrent requests' rows into one
session.run with @serve.batch.

    python ray_peer.py MODEL_DIR PORT [--max-batch 32] [--wait-s 0.05]

Starts a local Ray (2 CPUs, no dashboard) with the Serve proxy on 127.0.0.1:PORT and blocks until
SIGTERM/SIGINT, then shuts Serve and Ray down. --max-batch counts requests, as @serve.batch does.
Set PEER_LOG_BATCHES=1 to print each merged batch's row count (replica stdout, forwarded by Ray).
"""
import argparse
import asyncio
import json
import os
import signal
import threading

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # same ONNX Runtime settings as modelfn-fn
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import numpy as np
import onnxruntime as ort
import ray
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from ray import serve

app = FastAPI()
QUIET = {"enable_access_log": False, "log_level": "WARNING"}


@serve.deployment(num_replicas=1, max_ongoing_requests=256, logging_config=QUIET)
@serve.ingress(app)
class Peer:
    def __init__(self, model_dir, max_batch, wait_s):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(f"{model_dir}/model.onnx", opts,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.manifest = json.load(open(f"{model_dir}/manifest.json"))
        self.log_batches = os.environ.get("PEER_LOG_BATCHES") == "1"
        self.run_batch.set_max_batch_size(max_batch)
        self.run_batch.set_batch_wait_timeout_s(wait_s)

    @serve.batch
    async def run_batch(self, xs):
        x = np.concatenate(xs)
        if self.log_batches:
            print(f"batch requests={len(xs)} rows={len(x)}", flush=True)
        outputs = await asyncio.to_thread(self.session.run, self.output_names, {self.input_name: x})
        splits = np.cumsum([len(a) for a in xs])[:-1]
        return list(zip(*(np.split(o, splits) for o in outputs)))

    @app.post("/v1/infer")
    async def infer(self, request: Request):
        body = await request.json()
        inputs = body["inputs"]
        if isinstance(inputs, dict):
            inputs = inputs[self.input_name]
        outputs = await self.run_batch(np.asarray(inputs, dtype=np.float32))
        return JSONResponse({"model": self.manifest["name"], "version": self.manifest["version"],
                             "outputs": {n: o.tolist() for n, o in zip(self.output_names, outputs)}})


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("model_dir")
    p.add_argument("port", type=int)
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--wait-s", type=float, default=0.05)
    a = p.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    stop = threading.Event()  # handlers go in after ray.init, which installs its own
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serve.start(http_options={"host": "127.0.0.1", "port": a.port}, logging_config=QUIET)
    serve.run(Peer.bind(os.path.abspath(a.model_dir), a.max_batch, a.wait_s), route_prefix="/")
    print(f"ray_peer ready on http://127.0.0.1:{a.port}/v1/infer", flush=True)
    stop.wait()
    serve.shutdown()
    ray.shutdown()
