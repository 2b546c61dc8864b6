"""How long a live explorer takes from a slider change to its redrawn figure, per explorer.

For each explorer in adaptive_optim.gallery, every slider is moved through all of its values;
each move reruns the rules and rebuilds the figure (the widget's observer runs synchronously,
so the time of the assignment is the time until the new drawing is in the widget). Prints the
median and the 90th percentile, in milliseconds, and the size of each static version.
"""

from __future__ import annotations

import os
import statistics
import time

from adaptive_optim import explorers, gallery


def main() -> None:
    print(f"{os.cpu_count()} CPU cores")
    for name, make in gallery.EXPLORERS.items():
        made = make()
        live = explorers.LiveExplorer(made)
        times = []
        for _ in range(3):
            for _, slider, widget in live.sliders:
                for value in slider.values:
                    if value == widget.value:
                        continue
                    start = time.perf_counter()
                    widget.value = value
                    times.append(time.perf_counter() - start)
                widget.value = slider.value
        times.sort()
        runs = len(made.runs)
        print(f"{name:>16}: {runs} optimizer(s) x {made.steps} steps: slider -> figure median "
              f"{1e3 * statistics.median(times):.1f} ms, p90 {1e3 * times[int(0.9 * len(times))]:.1f} ms "
              f"over {len(times)} moves; static HTML {len(made.static_html().encode()) / 1e3:.0f} KB")


if __name__ == "__main__":
    main()
