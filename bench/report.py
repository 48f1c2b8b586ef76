"""Writes one benchmark's section of docs/benchmarks.md, between <!-- bench:NAME --> markers, leaving
the other sections as they are (earlier runs stay in git history)."""
import datetime
import os
import pathlib
import platform

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADER = ("# Benchmarks\n\nEach section comes from one run of its script: baseline and contenders ran in the same "
          "invocation on the same machine, so they shared its noise. Ratios matter more than absolutes.\n")


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}"


def today():
    return datetime.date.today().isoformat()


def write_section(name, markdown, path=None):
    out = pathlib.Path(path) if path else ROOT / "docs" / "benchmarks.md"
    text = out.read_text() if out.exists() else HEADER
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out
