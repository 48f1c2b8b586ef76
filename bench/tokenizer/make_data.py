"""For bench/tokenizer/run.sh: trains BERT-style WordPiece tokenizers (tokenizer.json, as the
Python `tokenizers` package writes them) on local text, writes >= 10,000 test strings (corpus
lines, accents in NFC/NFD/NFKC/NFKD, CJK, emoji, control characters, empty and whitespace-only
strings, texts far over the 128-token maximum) and the Python package's ids for each, and times
the Python package. Usage: make_data.py OUT_DIR"""
import glob
import json
import random
import struct
import sys
import time
import unicodedata

from tokenizers import BertWordPieceTokenizer, Tokenizer

out = sys.argv[1]
random.seed(13)
lines = []
for f in sorted(glob.glob("/usr/lib/python3*/**/*.py", recursive=True))[:1500]:
    with open(f, encoding="utf-8", errors="ignore") as src:
        lines += [l.strip() for l in src if l.strip()]
with open(f"{out}/corpus.txt", "w") as c:
    c.write("\n".join(lines))
for vocab in (8000, 30522):
    tok = BertWordPieceTokenizer(lowercase=True, clean_text=True, handle_chinese_chars=True)
    tok.train([f"{out}/corpus.txt"], vocab_size=vocab, min_frequency=2, show_progress=False)
    tok.enable_truncation(128)
    tok.save(f"{out}/tokenizer_{vocab}.json")


def rand_text(n):
    pools = [(0x20, 0x7e), (0xc0, 0x17f), (0x300, 0x36f), (0x4e00, 0x9fff), (0x3040, 0x30ff),
             (0x1f600, 0x1f64f), (0x0, 0x1f), (0x2000, 0x206f), (0x600, 0x6ff), (0xac00, 0xd7a3)]
    return "".join(chr(random.randint(*random.choice(pools))) for _ in range(n))


strings = random.sample(lines, 7000)
strings += ["", " ", "   \t\n  ", "\u00a0\u2003", "\x00", "\x07\x1b[31mred", "naïve café",
            "nai\u0308ve cafe\u0301", "ÅNGSTRÖM", unicodedata.normalize("NFD", "Ångström Ölçü"),
            "東京は晴れ", "😀😃 emoji 👍🏽", "ﬁ ligature", "Ⅻ roman", "İstanbul", "straße STRASSE",
            "\ufeffbom", "a\u200bb zero width"]
strings += [rand_text(random.randint(1, 60)) for _ in range(2500)]
strings += [" ".join(random.sample(lines, 40)) for _ in range(300)]
strings += [unicodedata.normalize(random.choice(["NFC", "NFD", "NFKC", "NFKD"]), s)
            for s in random.sample(lines, 300)]
strings += [rand_text(3000) for _ in range(20)]
with open(f"{out}/strings.bin", "wb") as b:
    for s in strings:
        data = s.encode("utf-8")
        b.write(struct.pack("<I", len(data)) + data)
summary = {"strings": len(strings)}
for vocab in (8000, 30522):
    path = f"{out}/tokenizer_{vocab}.json"
    loads, runs = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        t = Tokenizer.from_file(path)
        loads.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        encs = [t.encode(s) for s in strings]
        runs.append((time.perf_counter() - t0) / len(strings) * 1e6)
    with open(f"{out}/ids_py_{vocab}.txt", "w") as ids:
        for e in encs:
            ids.write(" ".join(map(str, e.ids)) + "\n")
    summary[f"python_{vocab}"] = {"vocab": t.get_vocab_size(), "load_ms": sorted(loads)[1],
                                  "encode_us_per_text": sorted(runs)[1]}
print(json.dumps(summary))
