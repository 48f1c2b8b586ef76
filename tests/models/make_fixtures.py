#!/usr/bin/env python3
"""Writes the small ONNX models the tests use (committed; rerun to regenerate). Needs `onnx`.

  dtypes/  one Identity per Open Inference Protocol datatype: input "<t>" -> output "<t>_out",
           each of shape [n_<t>], a length of its own (BYTES is an ONNX string tensor).
  add2/    two named inputs a, b FP32 [N, 3] -> sum FP32 [N, 3] and count INT64 [N] (row sums
           of (a > b)), for named and multi-input requests.
  fails/   x FP32 [N, D] -> Reshape to [-1, 4]: fails at run time when N*D is not a multiple of 4.
  work/    x FP32 [N, 4], loops INT64 [1], alloc INT64 [2] -> y (= x), spin, filled: the request
           picks how long it runs and how much memory it takes.
  extdata/ x FP32 [N, 4] -> y = x @ W FP32 [N, 3], W stored beside the model in weights.bin
           (ONNX external data), as models over 2 GB must be.
  unsafe/  one small model per way external data can point out of its folder: dotdot.onnx
           ("../secret.bin"), absolute.onnx ("/etc/hostname"), link.onnx ("link.bin", which the
           test makes a symlink). Each: y UINT8 [4] = W, so a model that loaded would serve the
           file's bytes back.
  embed/   ids INT64 [N, S], mask INT64 [N, S] -> emb FP32 [N, S, 2]: token embedding (vocabulary
           of 10) plus position embedding (8 positions), times the mask; as a transformer's first
           layer fails on an id past the vocabulary or a sequence past the positions.
  classify/ x FP32 [N, 4] -> logits FP32 [N, 3] = x @ W + b (a linear classifier's logits) and
           features FP32 [N, 4] = Relu(x): reports (softmax, top-k, argmax with labels) and output
           selection.
  textcls/ a small text classifier over a real WordPiece vocabulary: tokenizer.json (BERT-style,
           lowercase, 128 tokens, trained with the `tokenizers` package on the Python standard
           library's sources), input_ids, attention_mask, token_type_ids INT64 [N, T] ->
           hidden FP32 [N, T, 8] (token plus type embedding) and logits FP32 [N, 2] (the hidden
           states' mean over the mask, times W plus b; an empty text has no tokens, not even
           [CLS] and [SEP], and answers b); labels.txt names the two classes.
  colors/  image FP32 [N, 3, H, W] (an image input, NCHW) -> logits FP32 [N, 3] (each channel's
           mean: GlobalAveragePool) and pixels FP32 [N, 3, H, W] (the input as the model received
           it); labels.txt names the classes red, green, blue.
  imgpair/ left, right FP32 [N, 3, H, W] (two image inputs) and gain FP32 [N, 1] -> diff FP32
           [N, 3] = (left's channel means - right's) * gain.
  dynq/    x FP32 [N, 4] -> y FP32 [N, 3]: DynamicQuantizeLinear of x (one scale over the whole
           batch), then an integer MatMul: a row's answer depends on the other rows of the Run.
"""
import os

import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
TYPES = {
    "bool": TensorProto.BOOL, "uint8": TensorProto.UINT8, "uint16": TensorProto.UINT16,
    "uint32": TensorProto.UINT32, "uint64": TensorProto.UINT64, "int8": TensorProto.INT8,
    "int16": TensorProto.INT16, "int32": TensorProto.INT32, "int64": TensorProto.INT64,
    "fp16": TensorProto.FLOAT16, "fp32": TensorProto.FLOAT, "fp64": TensorProto.DOUBLE,
    "bytes": TensorProto.STRING,
}


def save(name, graph, filename="model.onnx", check=True):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="modelfn-fixtures")
    model.ir_version = 8
    if check:
        onnx.checker.check_model(model)
    os.makedirs(os.path.join(HERE, name), exist_ok=True)
    onnx.save(model, os.path.join(HERE, name, filename))


def external(tensor, location, offset=0, length=None):
    """Marks `tensor` as stored at `location` (raw bytes), without writing the file."""
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    entries = [("location", location), ("offset", str(offset))]
    if length is not None:
        entries.append(("length", str(length)))
    for k, v in entries:
        e = tensor.external_data.add()
        e.key, e.value = k, v
    return tensor


def external_data_models():
    import numpy as np
    w = (np.arange(12, dtype=np.float32).reshape(4, 3) - 5.5) / 4
    os.makedirs(os.path.join(HERE, "extdata"), exist_ok=True)
    with open(os.path.join(HERE, "extdata", "weights.bin"), "wb") as f:
        f.write(w.tobytes())
    wt = external(helper.make_tensor("W", TensorProto.FLOAT, [4, 3], w.tobytes(), raw=True),
                  "weights.bin", 0, w.nbytes)
    save("extdata", helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "extdata",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], initializer=[wt]),
        check=False)

    for name, location in [("dotdot", "../secret.bin"), ("absolute", "/etc/hostname"),
                           ("link", "link.bin")]:
        t = external(helper.make_tensor("W", TensorProto.UINT8, [4], b"\0" * 4, raw=True),
                     location, 0, 4)
        save("unsafe", helper.make_graph(
            [helper.make_node("Identity", ["W"], ["y"])], name, [],
            [helper.make_tensor_value_info("y", TensorProto.UINT8, [4])], initializer=[t]),
            filename=name + ".onnx", check=False)


def embed_model():
    import numpy as np
    tokens = helper.make_tensor("tokens", TensorProto.FLOAT, [10, 2],
                                np.arange(20, dtype=np.float32).tolist())
    positions = helper.make_tensor("positions", TensorProto.FLOAT, [8, 2],
                                   (np.arange(16, dtype=np.float32) / 100).tolist())
    one = helper.make_tensor("one", TensorProto.INT64, [1], [1])
    zero = helper.make_tensor("zero", TensorProto.INT64, [], [0])
    step = helper.make_tensor("step", TensorProto.INT64, [], [1])
    minus1 = helper.make_tensor("minus1", TensorProto.INT64, [1], [-1])
    nodes = [
        helper.make_node("Gather", ["tokens", "ids"], ["tok"]),
        helper.make_node("Shape", ["ids"], ["ids_shape"]),
        helper.make_node("Gather", ["ids_shape", "one"], ["s1"]),
        helper.make_node("Squeeze", ["s1"], ["s"]),
        helper.make_node("Range", ["zero", "s", "step"], ["pos_ids"]),
        helper.make_node("Gather", ["positions", "pos_ids"], ["pos"]),
        helper.make_node("Add", ["tok", "pos"], ["summed"]),
        helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "minus1"], ["mask3"]),
        helper.make_node("Mul", ["summed", "mask3"], ["emb"]),
    ]
    save("embed", helper.make_graph(
        nodes, "embed",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", "S"]),
         helper.make_tensor_value_info("mask", TensorProto.INT64, ["N", "S"])],
        [helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["N", "S", 2])],
        initializer=[tokens, positions, one, zero, step, minus1]))


def textcls_model():
    import glob

    import numpy as np
    from tokenizers import BertWordPieceTokenizer
    d = os.path.join(HERE, "textcls")
    os.makedirs(d, exist_ok=True)
    files = sorted(glob.glob("/usr/lib/python3.11/*.py"))[:200]
    tok = BertWordPieceTokenizer(lowercase=True, clean_text=True, handle_chinese_chars=True)
    tok.train(files, vocab_size=3000, min_frequency=2, show_progress=False)
    tok.enable_truncation(128)
    tok.save(os.path.join(d, "tokenizer.json"))
    with open(os.path.join(d, "labels.txt"), "w") as f:
        f.write("negative\npositive\n")
    rng = np.random.default_rng(13)
    vocab = tok.get_vocab_size()
    emb = helper.make_tensor("emb", TensorProto.FLOAT, [vocab, 8],
                             rng.normal(size=(vocab, 8)).astype(np.float32).ravel().tolist())
    types = helper.make_tensor("types", TensorProto.FLOAT, [2, 8],
                               rng.normal(size=(2, 8)).astype(np.float32).ravel().tolist())
    w = helper.make_tensor("W", TensorProto.FLOAT, [8, 2],
                           rng.normal(size=(8, 2)).astype(np.float32).ravel().tolist())
    b = helper.make_tensor("b", TensorProto.FLOAT, [2], [0.1, -0.1])
    minus1 = helper.make_tensor("minus1", TensorProto.INT64, [1], [-1])
    axis1 = helper.make_tensor("axis1", TensorProto.INT64, [1], [1])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["tok"]),
        helper.make_node("Gather", ["types", "token_type_ids"], ["typ"]),
        helper.make_node("Add", ["tok", "typ"], ["hidden"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "minus1"], ["mask3"]),
        helper.make_node("Mul", ["hidden", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count0"], keepdims=0),
        helper.make_node("Max", ["count0", "one"], ["count"]),  # an empty text has no tokens
        helper.make_node("Div", ["summed", "count"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "W"], ["pw"]),
        helper.make_node("Add", ["pw", "b"], ["logits"]),
    ]
    ints = [helper.make_tensor_value_info(n, TensorProto.INT64, ["N", "T"])
            for n in ("input_ids", "attention_mask", "token_type_ids")]
    save("textcls", helper.make_graph(
        nodes, "textcls", ints,
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["N", "T", 8]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])],
        initializer=[emb, types, w, b, minus1, axis1, one]))


def classify_model():
    import numpy as np
    w = helper.make_tensor("W", TensorProto.FLOAT, [4, 3],
                           [0.5, -1.0, 0.25, 1.5, 0.0, -0.75, -0.5, 2.0, 1.0, 0.125, -0.25, 0.5])
    b = helper.make_tensor("b", TensorProto.FLOAT, [3], [0.1, -0.2, 0.05])
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["logits"]),
        helper.make_node("Relu", ["x"], ["features"]),
    ]
    save("classify", helper.make_graph(
        nodes, "classify",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 4])],
        initializer=[w, b]))


def colors_model():
    d = os.path.join(HERE, "colors")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "labels.txt"), "w") as f:
        f.write("red\ngreen\nblue\n")
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [0, 3])
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
        helper.make_node("Reshape", ["pooled", "shape"], ["logits"]),
        helper.make_node("Identity", ["image"], ["pixels"]),
    ]
    save("colors", helper.make_graph(
        nodes, "colors",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        initializer=[shape]))


def imgpair_model():
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [0, 3])
    nodes = [
        helper.make_node("GlobalAveragePool", ["left"], ["lp"]),
        helper.make_node("GlobalAveragePool", ["right"], ["rp"]),
        helper.make_node("Sub", ["lp", "rp"], ["d4"]),
        helper.make_node("Reshape", ["d4", "shape"], ["d"]),
        helper.make_node("Mul", ["d", "gain"], ["diff"]),
    ]
    save("imgpair", helper.make_graph(
        nodes, "imgpair",
        [helper.make_tensor_value_info("left", TensorProto.FLOAT, ["N", 3, "H", "W"]),
         helper.make_tensor_value_info("right", TensorProto.FLOAT, ["N", 3, "H", "W"]),
         helper.make_tensor_value_info("gain", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("diff", TensorProto.FLOAT, ["N", 3])],
        initializer=[shape]))


def dynq_model():
    import numpy as np
    w = helper.make_tensor("W", TensorProto.UINT8, [4, 3], (np.arange(12) * 7 % 255).tolist())
    w_zp = helper.make_tensor("W_zp", TensorProto.UINT8, [], [128])
    w_scale = helper.make_tensor("W_scale", TensorProto.FLOAT, [], [0.01])
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "x_scale", "x_zp"]),
        helper.make_node("MatMulInteger", ["xq", "W", "x_zp", "W_zp"], ["acc"]),
        helper.make_node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["x_scale", "W_scale"], ["scale"]),
        helper.make_node("Mul", ["accf", "scale"], ["y"]),
    ]
    save("dynq", helper.make_graph(
        nodes, "dynq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        initializer=[w, w_zp, w_scale]))


def main():
    inputs, outputs, nodes = [], [], []
    for name, t in TYPES.items():
        # One length per input: the inputs are independent, so they must not share a dimension.
        inputs.append(helper.make_tensor_value_info(name, t, ["n_" + name]))
        outputs.append(helper.make_tensor_value_info(name + "_out", t, ["n_" + name]))
        nodes.append(helper.make_node("Identity", [name], [name + "_out"]))
    save("dtypes", helper.make_graph(nodes, "dtypes", inputs, outputs))

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3])
    s = helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["N", 3])
    c = helper.make_tensor_value_info("count", TensorProto.INT64, ["N"])
    nodes = [
        helper.make_node("Add", ["a", "b"], ["sum"]),
        helper.make_node("Greater", ["a", "b"], ["gt"]),
        helper.make_node("Cast", ["gt"], ["gt64"], to=TensorProto.INT64),
        helper.make_node("ReduceSum", ["gt64", "axes"], ["count"], keepdims=0),
    ]
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    save("add2", helper.make_graph(nodes, "add2", [a, b], [s, c], initializer=[axes]))

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "D"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", 4])
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 4])
    save("fails", helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "fails",
                                    [x], [y], initializer=[shape]))

    # work: a function whose cost the request chooses, for the platform's timeout, scaling and
    # memory tests. `loops` [1] runs that many 256x256 MatMuls in an ONNX Loop; `alloc` [2] fills
    # a zero FP32 tensor of that shape (ConstantOfShape), so a request can exceed a memory limit.
    # x FP32 [N, 4] comes back as y; spin and filled are sums that keep both paths live.
    n = 256
    w = helper.make_tensor("w", TensorProto.FLOAT, [n, n], [1.0 / n] * (n * n))
    acc0 = helper.make_tensor("acc0", TensorProto.FLOAT, [n, n], [1.0] * (n * n))
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("MatMul", ["acc_in", "w"], ["acc_out"])],
        "spin_body",
        [helper.make_tensor_value_info("iter", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [n, n])])
    true = helper.make_tensor("true", TensorProto.BOOL, [], [True])
    zero_axis = helper.make_tensor("zero_axis", TensorProto.INT64, [1], [0])
    nodes = [
        helper.make_node("Identity", ["x"], ["y"]),
        helper.make_node("Squeeze", ["loops", "zero_axis"], ["trip"]),
        helper.make_node("Loop", ["trip", "true", "acc0"], ["acc"], body=body),
        helper.make_node("ReduceSum", ["acc"], ["spin"], keepdims=0),
        helper.make_node("ConstantOfShape", ["alloc"], ["big"]),
        helper.make_node("ReduceSum", ["big"], ["filled"], keepdims=0),
    ]
    save("work", helper.make_graph(
        nodes, "work",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4]),
         helper.make_tensor_value_info("loops", TensorProto.INT64, [1]),
         helper.make_tensor_value_info("alloc", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4]),
         helper.make_tensor_value_info("spin", TensorProto.FLOAT, []),
         helper.make_tensor_value_info("filled", TensorProto.FLOAT, [])],
        initializer=[w, acc0, true, zero_axis]))

    external_data_models()
    embed_model()
    classify_model()
    textcls_model()
    colors_model()
    imgpair_model()
    dynq_model()


if __name__ == "__main__":
    main()
