"""How long a live explorer takes from a slider change to its redrawn figure, per explorer.

For each explorer in adaptive_optim.gallery, every slider is moved through all of its values;
each move redraws the figure (the widget's observer runs synchronously, so the time of the
assignment is the time until the new drawing is in the widget). Two cases: on the explorer's own
landscape and start, where the live explorer reads the run out of the grid it computed once for
the static version, and on another landscape from the menu, where each move reruns the rule whose
slider moved. Prints the median and the 90th percentile, in milliseconds, and the size of each
static version (the website's), in KB.
"""

from __future__ import annotations

import os
import statistics
import time

from adaptive_optim import explorers, gallery


def _moves(live: explorers.LiveExplorer, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        for _, slider, widget in live.sliders:
            for value in slider.values:
                if value == widget.value:
                    continue
                start = time.perf_counter()
                widget.value = value
                times.append(time.perf_counter() - start)
            widget.value = slider.value
    return sorted(times)


def _summary(times: list[float]) -> str:
    return f"median {1e3 * statistics.median(times):5.1f} ms, p90 {1e3 * times[int(0.9 * len(times))]:5.1f} ms"


def main() -> None:
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'explorer':>14} | {'runs x steps':>12} | {'own landscape (grid)':>30} | "
          f"{'other landscape (rerun)':>30} | {'moves':>5} | static HTML")
    for name, make in gallery.EXPLORERS.items():
        made = make()
        live = explorers.LiveExplorer(made)
        own = _moves(live, 3)
        live.landscape.value = next(ls for ls in made.landscapes if ls != made.landscape)
        other = _moves(live, 1)
        print(f"{name:>14} | {len(made.runs)} x {made.steps:<8} | {_summary(own):>30} | {_summary(other):>30} | "
              f"{len(own) // 3:>5} | {len(made.static_html().encode()) / 1e3:.0f} KB")


if __name__ == "__main__":
    main()
