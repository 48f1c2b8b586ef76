#!/usr/bin/env python3
"""Writes a BERT-style text encoder of about 23 MB (float32) for the burst benchmarks: the size and
shape of a small sentence-embedding transformer, built with the `onnx` package from a fixed seed
(random weights: the answers mean nothing, the init and run costs are those of the real shape).

  input_ids INT64 [N, S], attention_mask INT64 [N, S] -> embedding FP32 [N, 256]

Vocabulary 10000, hidden 256, 4 layers of 4-head self-attention and a 1024-wide GELU feed-forward,
128 positions; the embedding is the first token's last hidden state. Writes OUT/model.onnx,
OUT/manifest.json is left to `modelfn manifest`, and OUT/requests/infer.json (one sequence of 16).

  pip install onnx numpy   (scripts/requirements-bench.txt)
  bench/make_transformer.py /tmp/transformer
"""
import json
import math
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

VOCAB, HIDDEN, LAYERS, HEADS, FFN, POSITIONS = 10000, 256, 4, 4, 1024, 128


def build():
    rng = np.random.default_rng(11)
    inits, nodes = [], []

    def weight(name, *shape, scale=0.02):
        inits.append(numpy_helper.from_array(
            (rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def const(name, value, dtype=np.int64):
        inits.append(numpy_helper.from_array(np.array(value, dtype=dtype), name))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def layer_norm(x, name):
        g = const(f"{name}.g", np.ones(HIDDEN), np.float32)
        b = const(f"{name}.b", np.zeros(HIDDEN), np.float32)
        return node("LayerNormalization", [x, g, b], name, axis=-1, epsilon=1e-12)

    def dense(x, name, n_in, n_out):
        y = node("MatMul", [x, weight(f"{name}.w", n_in, n_out)], f"{name}.mm")
        return node("Add", [y, const(f"{name}.b", np.zeros(n_out), np.float32)], name)

    # Embeddings: token + position (0..S-1), normalised.
    shape = node("Shape", ["input_ids"], "ids.shape")
    seq = node("Gather", [shape, const("one", 1)], "seq.len", axis=0)
    pos = node("Range", [const("zero", 0), seq, const("step", 1)], "pos.ids")
    tok = node("Gather", [weight("emb.word", VOCAB, HIDDEN), "input_ids"], "emb.tok")
    pe = node("Gather", [weight("emb.pos", POSITIONS, HIDDEN), pos], "emb.pe")
    h = layer_norm(node("Add", [tok, pe], "emb.sum"), "emb.ln")
    # Attention bias: 0 where the mask is 1, -10000 where it is 0; [N, 1, 1, S].
    maskf = node("Cast", ["attention_mask"], "mask.f", to=TensorProto.FLOAT)
    inv = node("Sub", [const("onef", 1.0, np.float32), maskf], "mask.inv")
    bias = node("Mul", [inv, const("neg", -10000.0, np.float32)], "mask.neg")
    bias = node("Unsqueeze", [bias, const("axes12", [1, 2])], "mask.bias")
    dh = HIDDEN // HEADS
    split = const("split.shape", [0, 0, HEADS, dh])
    merge = const("merge.shape", [0, 0, HIDDEN])
    scale = const("scale", 1.0 / math.sqrt(dh), np.float32)
    for i in range(LAYERS):
        p = f"l{i}"
        heads = {}
        for k in ("q", "k", "v"):
            t = node("Reshape", [dense(h, f"{p}.{k}", HIDDEN, HIDDEN), split], f"{p}.{k}.split")
            perm = [0, 2, 3, 1] if k == "k" else [0, 2, 1, 3]
            heads[k] = node("Transpose", [t], f"{p}.{k}.heads", perm=perm)
        scores = node("MatMul", [heads["q"], heads["k"]], f"{p}.scores")
        scores = node("Add", [node("Mul", [scores, scale], f"{p}.scaled"), bias], f"{p}.masked")
        probs = node("Softmax", [scores], f"{p}.probs", axis=-1)
        ctx = node("MatMul", [probs, heads["v"]], f"{p}.ctx")
        ctx = node("Transpose", [ctx], f"{p}.ctx.t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge], f"{p}.ctx.merged")
        h = layer_norm(node("Add", [h, dense(ctx, f"{p}.out", HIDDEN, HIDDEN)], f"{p}.res1"),
                       f"{p}.ln1")
        up = dense(h, f"{p}.ffn.up", HIDDEN, FFN)
        # GELU: x * 0.5 * (1 + erf(x / sqrt(2))).
        erf = node("Erf", [node("Mul", [up, const(f"{p}.rs2", 1 / math.sqrt(2), np.float32)],
                                f"{p}.gelu.s")], f"{p}.gelu.erf")
        half = node("Mul", [node("Add", [erf, "onef"], f"{p}.gelu.p1"),
                            const(f"{p}.half", 0.5, np.float32)], f"{p}.gelu.h")
        act = node("Mul", [up, half], f"{p}.gelu")
        h = layer_norm(node("Add", [h, dense(act, f"{p}.ffn.down", FFN, HIDDEN)], f"{p}.res2"),
                       f"{p}.ln2")
    nodes.append(helper.make_node("Gather", [h, "zero"], ["embedding"], name="cls", axis=1))
    graph = helper.make_graph(
        nodes, "encoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", "S"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["N", "S"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", HIDDEN])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="modelfn-bench")
    model.ir_version = 8  # what the ONNX Runtime in third_party reads (opset 17 needs IR >= 8)
    onnx.checker.check_model(model)
    return model


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = pathlib.Path(sys.argv[1])
    (out / "requests").mkdir(parents=True, exist_ok=True)
    onnx.save(build(), out / "model.onnx")
    ids = [101] + [1000 + 37 * i for i in range(14)] + [102]
    (out / "requests" / "infer.json").write_text(json.dumps(
        {"inputs": {"input_ids": [ids], "attention_mask": [[1] * len(ids)]}}))
    print(f"{out / 'model.onnx'}: {(out / 'model.onnx').stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
