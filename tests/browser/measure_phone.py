"""Measure the built site as a phone shows it: page widths, cut-off equations, typesetting time.

    .venv/bin/python tests/browser/measure_phone.py [--html _build/html] [--cpu 1,4]

For each page and each CPU slow-down factor (DevTools' ``Emulation.setCPUThrottlingRate``; 4 is
about a mid-range phone), prints when the HTML had been parsed and when MathJax had typeset the
page, both from the start of navigation, the page's width at 390 CSS px, and
its cut-off equations. Numbers, not a test:
test_phone.py holds the requirements. Timings vary with the machine's load; compare builds in
one run of this script on one machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chromium import Browser  # noqa: E402
from conftest import SITE, built_pages, serve  # noqa: E402
from phone import emulate_phone, phone_report  # noqa: E402


#: When the HTML had been parsed (before deferred scripts such as MathJax 3 run), in ms from
#: navigation: "typeset" minus "parsed" is the scripts' share, MathJax's typesetting included.
PARSED = "performance.getEntriesByType('navigation')[0].domInteractive"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=SITE, help="the built site (default: %(default)s)")
    parser.add_argument("--cpu", default="1,4", help="CPU slow-down factors, comma-separated")
    args = parser.parse_args()
    pages = [path for path in built_pages(args.html) if path != "index.html"]
    print(f"{'cpu':>4} {'page':<28} {'parsed s':>8} {'typeset s':>9} {'width px':>8} {'equations':>9} {'cut off':>7}")
    with serve(args.html) as site, Browser.launch() as browser:
        for rate in (float(rate) for rate in args.cpu.split(",")):
            for path in pages:
                page = browser.new_page()
                try:
                    emulate_phone(page)
                    page.send("Emulation.setCPUThrottlingRate", {"rate": rate})
                    page.goto(site.page_url(path), timeout=180)
                    page.send("Emulation.setCPUThrottlingRate", {"rate": 1})
                    report = phone_report(page)
                    parsed = page.evaluate(PARSED) / 1000
                finally:
                    page.close()
                seconds = f"{page.typeset_ms / 1000:.1f}" if page.typeset_ms is not None else page.mathjax
                print(f"{rate:>4g} {path:<28} {parsed:>8.1f} {seconds:>9} {report['width']:>8} {report['equations']:>9} "
                      f"{len(report['cut_off']):>7}", flush=True)
                for line in report["culprits"] + report["cut_off"]:
                    print(f"{'':>6}{line}")


if __name__ == "__main__":
    main()
