#!/usr/bin/env python3
"""Writes the medium model of the batching benchmark: an MLP whose Run takes about a millisecond
at batch 1 on one core, built with the `onnx` package from a fixed seed (random weights: the
answers mean nothing, the run cost is that of the shape).

  x FP32 [N, 1024] -> 4 layers Gemm(1024 -> 1024) + Relu -> logits FP32 [N, 10]

About 17 MB of float32 weights, read once per Run: at batch 1 the Run is bound by memory, and
rows of one Run share the weights, which is what dynamic batching buys. Writes OUT/model.onnx,
OUT/manifest.json is left to `modelfn manifest`, and OUT/requests/infer.json (one row).

  pip install onnx numpy   (scripts/requirements-bench.txt)
  bench/make_mlp.py /tmp/mlp
"""
import json
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WIDTH, LAYERS, CLASSES = 1024, 4, 10


def build():
    rng = np.random.default_rng(7)
    inits, nodes = [], []
    prev = "x"
    for i in range(LAYERS):
        w = (rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH)).astype(np.float32)
        b = np.zeros(WIDTH, np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes += [helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"g{i}"]),
                  helper.make_node("Relu", [f"g{i}"], [f"h{i}"])]
        prev = f"h{i}"
    w = (rng.standard_normal((WIDTH, CLASSES)) / np.sqrt(WIDTH)).astype(np.float32)
    inits.append(numpy_helper.from_array(w, "wout"))
    nodes.append(helper.make_node("MatMul", [prev, "wout"], ["logits"]))
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", WIDTH])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = pathlib.Path(sys.argv[1])
    (out / "requests").mkdir(parents=True, exist_ok=True)
    onnx.save(build(), out / "model.onnx")
    row = np.random.default_rng(1).standard_normal(WIDTH).astype(np.float32).round(3).tolist()
    (out / "requests" / "infer.json").write_text(json.dumps({"inputs": [row]}))
    print(f"wrote {out}/model.onnx and {out}/requests/infer.json")


if __name__ == "__main__":
    main()
