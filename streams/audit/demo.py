"""``make audit-demo``: generate a realistic book with known defect rates, audit it, show the figures.

``python -m streams.audit.demo [--policies N] [--out DIR] [--screenshot PNG]`` writes the book to
``DIR/book.jsonl`` and the audit to ``DIR/report/``, then prints the injected rate beside the
measured one per channel. With ``--screenshot`` (and Chromium installed) it also renders the
report's first screen to a PNG.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from streams.audit.book import DEFECT_RATES, write_stream
from streams.cli.main import main as policyguard


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def screenshot(page: Path, png: Path, *, width: int = 1100, height: int = 1500) -> None:
    """The page as Chromium renders it, headless (no sandbox: CI runs as root)."""
    binary = chromium()
    if binary is None:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium, or `make install`)")
    png.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={png.resolve()}", page.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="audit-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=100_000, help="policies in the generated book")
    parser.add_argument("--out", default="audit-demo", help="folder for the book and the report")
    parser.add_argument("--screenshot", metavar="PNG", help="also render summary.html to this PNG with Chromium")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    path = out / "book.jsonl"
    truth = write_stream(args.policies, path)
    injected = sum(bad for _, bad in truth.values())
    print(f"generated {args.policies:,} policies ({injected:,} with an injected defect) "
          f"in {time.monotonic() - started:.1f} s: {path}")
    shutil.rmtree(out / "report", ignore_errors=True)
    code = policyguard(["audit", str(path), "--out", str(out / "report")])
    if code != 0:
        return code
    summary = json.loads((out / "report" / "summary.json").read_text(encoding="utf-8"))
    print("\nchannel          policies   injected rate   target   audited rate")
    for row in summary["by_channel"]:
        n, bad = truth[row["key"]]
        print(f"  {row['key']:<14} {n:>9,}   {bad / n:>12.2%}   {DEFECT_RATES[row['key']]:>6.2%}   {row['rate']:>11.2%}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory of the audit's main process: {peak:,.0f} MB")
    if args.screenshot:
        screenshot(out / "report" / "summary.html", Path(args.screenshot))
        print(f"screenshot: {args.screenshot}")
    print(f"open {out / 'report' / 'summary.html'} in a browser")
    return 0


if __name__ == "__main__":
    sys.exit(run())
