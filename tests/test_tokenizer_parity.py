"""Token ids, attention masks and type ids from modelfn's tokenizer (the `tokenizers` crate behind
src/pipeline/tokenizer's C ABI, driven through build/modelfn-tokenize) against the Python
`tokenizers` package, on >= 10,000 strings per tokenizer: local text, Unicode normalisation
forms, accents, CJK, emoji, control characters, empty and whitespace-only strings and texts far
over the maximum length, encoded in padded batches. Tokenizers are trained here, with the Python
package, on local text: BERT WordPiece (two vocabulary sizes), byte-level BPE and a SentencePiece-style
Unigram model (NFKC, Metaspace, with a <s> $A </s> template)."""
import glob
import random
import struct
import subprocess
import unicodedata

import pytest

from conftest import BUILD

tokenizers = pytest.importorskip("tokenizers")
TOOL = BUILD / "modelfn-tokenize"
BATCH = 16


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    lines = []
    for f in sorted(glob.glob("/usr/lib/python3*/**/*.py", recursive=True))[:1500]:
        with open(f, encoding="utf-8", errors="ignore") as src:
            lines += [line.strip() for line in src if line.strip()]
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path, lines


def rand_text(rng, n):
    pools = [(0x20, 0x7e), (0xc0, 0x17f), (0x300, 0x36f), (0x4e00, 0x9fff), (0x3040, 0x30ff),
             (0x1f600, 0x1f64f), (0x0, 0x1f), (0x2000, 0x206f), (0x600, 0x6ff), (0xac00, 0xd7a3),
             (0x7f, 0x9f), (0xfe00, 0xfe0f)]
    return "".join(chr(rng.randint(*rng.choice(pools))) for _ in range(n))


@pytest.fixture(scope="module")
def strings(corpus):
    _, lines = corpus
    rng = random.Random(13)
    s = rng.sample(lines, 7000)
    s += ["", " ", "   \t\n  ", "\u00a0\u2003", "\x00", "\x07\x1b[31mred", "naïve café",
          "nai\u0308ve cafe\u0301", "ÅNGSTRÖM", unicodedata.normalize("NFD", "Ångström Ölçü"),
          "東京は晴れ", "😀😃 emoji 👍🏽", "👨‍👩‍👧 family", "ﬁ ligature", "Ⅻ roman", "İstanbul",
          "straße STRASSE", "\ufeffbom", "a\u200bb zero width", "\r\n", "\t", "ǅ title case"]
    s += [rand_text(rng, rng.randint(1, 60)) for _ in range(2500)]
    s += [" ".join(rng.sample(lines, 40)) for _ in range(300)]  # far over 128 tokens
    s += [unicodedata.normalize(rng.choice(["NFC", "NFD", "NFKC", "NFKD"]), x)
          for x in rng.sample(lines, 300)]
    s += [rand_text(rng, 3000) for _ in range(20)]
    assert len(s) >= 10_000
    return s


def train(kind, corpus_path, out):
    t = tokenizers
    if kind.startswith("wordpiece"):
        tok = t.BertWordPieceTokenizer(lowercase=True, clean_text=True, handle_chinese_chars=True)
        tok.train([str(corpus_path)], vocab_size=int(kind.split("_")[1]), min_frequency=2,
                  show_progress=False)
    elif kind == "unigram":
        # Unigram training (EM over the whole corpus) takes minutes on all of it: a sample of
        # 40,000 lines gives the full 6,000-piece vocabulary in seconds.
        lines = corpus_path.read_text(encoding="utf-8").split("\n")
        sample = out.with_suffix(".corpus.txt")
        sample.write_text("\n".join(random.Random(5).sample(lines, 40_000)), encoding="utf-8")
        tok = t.SentencePieceUnigramTokenizer()
        tok.train([str(sample)], vocab_size=6000, show_progress=False,
                  special_tokens=["<pad>", "<unk>", "<s>", "</s>"], unk_token="<unk>")
        tok.post_processor = t.processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
            special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
    else:
        tok = t.ByteLevelBPETokenizer(add_prefix_space=True)
        tok.train([str(corpus_path)], vocab_size=5000, min_frequency=2, show_progress=False)
    tok.enable_truncation(128)
    tok.save(str(out))
    return out


def python_rows(path, texts, max_length):
    tok = tokenizers.Tokenizer.from_file(str(path))
    if max_length:
        tok.enable_truncation(max_length)
    if tok.padding is None:
        tok.enable_padding()
    rows = []
    for i in range(0, len(texts), BATCH):
        for e in tok.encode_batch(texts[i:i + BATCH]):
            rows.append("|".join(" ".join(map(str, v))
                                 for v in (e.ids, e.attention_mask, e.type_ids)))
    return rows


def modelfn_rows(path, texts, max_length):
    data = b"".join(struct.pack("<I", len(b)) + b for b in (s.encode("utf-8") for s in texts))
    p = subprocess.run([str(TOOL), str(path), str(max_length), str(BATCH)], input=data,
                       capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode().splitlines()


@pytest.mark.parametrize("kind", ["wordpiece_8000", "wordpiece_30522", "bytelevel_bpe", "unigram"])
@pytest.mark.parametrize("max_length", [0, 24])
def test_ids_masks_and_type_ids_match_the_python_package(kind, max_length, corpus, strings,
                                                         tmp_path_factory):
    if not TOOL.exists():
        pytest.fail(f"{TOOL} is missing: this build has no text tokenizer (cargo not found?)")
    path = tmp_path_factory.getbasetemp() / f"tokenizer_{kind}.json"
    if not path.exists():
        train(kind, corpus[0], path)
    want = python_rows(path, strings, max_length)
    got = modelfn_rows(path, strings, max_length)
    assert len(got) == len(want) == len(strings)
    diff = [i for i, (a, b) in enumerate(zip(got, want)) if a != b]
    assert not diff, (f"{len(diff)} of {len(strings)} differ; first: {strings[diff[0]]!r}\n"
                      f" modelfn: {got[diff[0]]}\n python:  {want[diff[0]]}")
    # The strings do exercise truncation and padding.
    limit = max_length or 128
    assert max(len(r.split("|")[0].split()) for r in got) == limit
    assert any(" 0" in r.split("|")[1] for r in got)
