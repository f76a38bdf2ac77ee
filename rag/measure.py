"""Numbers the benchmarks print: process memory, percentiles and medians."""

from __future__ import annotations

import math
from typing import Sequence


def memory_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MB: VmRSS and VmHWM (Linux),
    else the peak from `getrusage` for both."""
    fields = _process_status_mb("VmRSS", "VmHWM")
    if len(fields) < 2:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, peak
    return fields["VmRSS"], fields["VmHWM"]


def private_memory_mb() -> float | None:
    """This process's anonymous resident memory in MB (RssAnon, Linux; None elsewhere):
    VmRSS without the pages of mapped files, which the kernel shares with its page cache
    and can drop. A memory-mapped index counts in VmRSS as far as it was touched."""
    return _process_status_mb("RssAnon").get("RssAnon")


def _process_status_mb(*names: str) -> dict[str, float]:
    """The `names` fields of /proc/self/status (kB there) in MB; those it lacks, or all
    of them where there is no /proc, are missing."""
    fields: dict[str, float] = {}
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name in names:
                    fields[name] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return fields


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values.

    >>> percentile([1, 2, 3, 4], 50), percentile([1, 2, 3, 4], 95)
    (2, 4)
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def span_median(widths: Sequence[float]) -> float | None:
    """The upper median of the span widths, as the reference scorer computes it; None for none.

    >>> span_median([60, 10, 30, 20])
    30
    """
    return sorted(widths)[len(widths) // 2] if widths else None
