#!/usr/bin/env python3
"""Trains and exports the image example (examples/fashion): a classifier of clothing photos into
the 10 classes of Fashion-MNIST, taking an RGB image as the manifest's pipeline prepares it, so that
`curl --data-binary @shoe.png -H 'Content-Type: image/png' .../v1/infer` answers
{"label": "Sneaker", "score": ...}.

    apt-get install dataset-fashion-mnist          # the data: Debian's package of Fashion-MNIST
    python3 -m venv /tmp/ex && /tmp/ex/bin/pip install -r scripts/requirements-examples.txt
    /tmp/ex/bin/python examples/train_fashion.py
    build/modelfn manifest examples/fashion/model.onnx --name fashion --version 1.0.0 \\
        --labels labels.txt --labels-for probabilities --scores raw
    (then the pipeline's image input, as examples/README.md shows)

Data: Fashion-MNIST (H. Xiao, K. Rasul, R. Vollgraf, Zalando Research, 2017): 70,000 photos of
Zalando's articles (60,000 for training, 10,000 for testing), converted by its authors to 28 x 28
grayscale with the colours inverted (the article bright on black), 10 balanced classes; as the
Debian package dataset-fashion-mnist ships it in /usr/share/datasets/fashion-mnist/ (licence MIT).

Model: a multi-layer perceptron (scikit-learn, one hidden layer of 256) on the 784 pixels scaled to
0..1, exported with skl2onnx, behind a few ONNX nodes that take what a user sends: the image input
[N, 3, 28, 28] (RGB, 0..1, as the pipeline makes it from a JPEG, PNG or WebP of any size), turned
grey with Pillow's weights (0.299 R + 0.587 G + 0.114 B) and inverted, so that a photo of an article
on a light background looks like the training data.
"""
import gzip
import json
import os
import warnings

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fashion")
DATA = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]
SAMPLES = 8  # test photos written to requests/, as the article looked (dark on light)


def idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def with_image_input(mlp):
    """The MLP's graph behind image [N, 3, 28, 28] -> grey, inverted -> pixels [N, 784]."""
    g = mlp.graph
    prep = [
        helper.make_node("Mul", ["image", "grey_weights"], ["weighted"]),
        helper.make_node("ReduceSum", ["weighted", "channel_axis"], ["grey"], keepdims=0),
        helper.make_node("Sub", ["one", "grey"], ["inverted"]),
        helper.make_node("Reshape", ["inverted", "flat_shape"], ["pixels"]),
    ]
    inits = [numpy_helper.from_array(np.array([0.299, 0.587, 0.114], np.float32).reshape(1, 3, 1, 1),
                                     "grey_weights"),
             numpy_helper.from_array(np.array([1], np.int64), "channel_axis"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one"),
             numpy_helper.from_array(np.array([-1, 784], np.int64), "flat_shape")]
    graph = helper.make_graph(
        prep + list(g.node), "fashion",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 28, 28])],
        list(g.output), inits + list(g.initializer))
    m = helper.make_model(graph, opset_imports=list(mlp.opset_import),
                          producer_name="modelfn examples/train_fashion.py")
    m.ir_version = mlp.ir_version
    onnx.checker.check_model(m, full_check=True)
    return m


def main():
    x_train = idx("train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    y_train = idx("train-labels-idx1-ubyte.gz").astype(np.int64)
    test_images = idx("t10k-images-idx3-ubyte.gz")
    y_test = idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    x_test = test_images.reshape(-1, 784).astype(np.float32) / 255
    print(f"train {len(y_train)}, test {len(y_test)}")
    with warnings.catch_warnings():  # 30 epochs: held-out accuracy has levelled off by then
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(256,), max_iter=30, early_stopping=True,
                            random_state=0).fit(x_train, y_train)
    sk_acc = float((clf.predict(x_test) == y_test).mean())
    mlp = to_onnx(clf, initial_types=[("pixels", FloatTensorType([None, 784]))],
                  options={id(clf): {"zipmap": False}}, target_opset=17)
    for o in mlp.graph.output:  # skl2onnx's output_label / output_probability
        new = {"output_label": "label", "output_probability": "probabilities"}.get(o.name, o.name)
        for n in mlp.graph.node:
            n.output[:] = [new if v == o.name else v for v in n.output]
        o.name = new
    model = with_image_input(mlp)
    os.makedirs(os.path.join(OUT, "requests"), exist_ok=True)
    onnx.save(model, os.path.join(OUT, "model.onnx"))
    with open(os.path.join(OUT, "labels.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")

    # The test set as a user would send it: each photo as it looked (inverted back), RGB.
    sess = ort.InferenceSession(os.path.join(OUT, "model.onnx"), providers=["CPUExecutionProvider"])
    rgb = np.repeat((255 - test_images)[:, None, :, :], 3, axis=1).astype(np.float32) / 255
    probs = np.concatenate([sess.run(["probabilities"], {"image": rgb[i:i + 1000]})[0]
                            for i in range(0, len(rgb), 1000)])
    acc = float((probs.argmax(-1) == y_test).mean())
    # Sample requests: the first test photo of each of SAMPLES classes, as PNG and JPEG files.
    picked, seen = [], set()
    for i, y in enumerate(y_test):
        if int(y) not in seen:
            seen.add(int(y))
            picked.append(i)
        if len(picked) == SAMPLES:
            break
    files = []
    for i in picked:
        name = CLASSES[y_test[i]].lower().replace("/", "-").replace(" ", "-")
        img = Image.fromarray(255 - test_images[i]).convert("RGB")
        for ext, fmt in (("png", "PNG"), ("jpg", "JPEG")):
            path = os.path.join(OUT, "requests", f"{name}.{ext}")
            img.save(path, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
        files.append(f"{name}.png")
    # What the model answers for the PNG files, prepared as Pillow + numpy do (no resize: 28 x 28).
    batch = np.stack([np.asarray(Image.open(os.path.join(OUT, "requests", f)).convert("RGB"),
                                 np.float32).transpose(2, 0, 1) / 255 for f in files])
    (p,) = sess.run(["probabilities"], {"image": batch})
    expected = {"files": files, "truth": [CLASSES[y_test[i]] for i in picked],
                "label": [CLASSES[k] for k in p.argmax(-1)],
                "score": [round(float(s), 6) for s in p.max(-1)],
                "evaluation": {"test": {"items": len(y_test), "accuracy": round(acc, 4),
                                        "scikit_learn_accuracy": round(sk_acc, 4)}}}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(json.dumps(expected["evaluation"]))
    for fname, t, l, s in zip(files, expected["truth"], expected["label"], expected["score"]):
        print(f"{fname:20s} truth {t:12s} answer {l:12s} {s:.3f}")


if __name__ == "__main__":
    main()
