"""6. Scaling: throughput and memory at 1x, 4x and 16x N, cost per relationship at each.

A cost that stays flat per relationship scales linearly; one that grows means something
(a scan, a cache, a lock, the server's database) gets slower as the program gets bigger.
"""

from __future__ import annotations

from bench import memory, throughput
from bench.common import Report, Row

NAME = "scaling"


def throughput_sizes(quick: bool) -> list[int]:
    base = throughput.base_size(quick)
    return [base, base * 4, base * 16]


def memory_points(quick: bool) -> list[int]:
    top = memory.size(quick)
    return [top // 16, top // 4, top]


def report_for(points: list[throughput.Point], curves: dict[str, memory.Curve]) -> Report:
    report = Report(NAME, "6. Scaling: cost per relationship at 1x, 4x and 16x N")
    for point in points:
        report.add(
            Row(
                f"throughput, N={point.n}: wall ms per relationship",
                1000 / point.project_rate,
                1000 / point.floor_rate,
                unit="ms",
            )
        )
    for point in points:
        report.add(
            Row(
                f"throughput, N={point.n}: CPU ms per relationship (all processes)",
                1000 * (point.project.cpu + point.project.server_cpu) / point.n,
                1000 * (point.floor.cpu + point.floor.server_cpu) / point.n,
                unit="ms",
            )
        )
    project, floor = curves["project"], curves["floor"]
    for sample in project.samples:
        report.add(
            Row(
                f"memory, N={sample.n:,}: worker RSS per relationship",
                project.per_relationship_kib(sample.n),
                floor.per_relationship_kib(sample.n),
                unit="KiB",
            )
        )
    first, last = points[0], points[-1]
    growth = (1000 / last.project_rate) / (1000 / first.project_rate)
    report.notes.append(
        f"wall time per relationship at {last.n} vs {first.n}: x{growth:.2f} for mentorflow, "
        f"x{first.floor_rate / last.floor_rate:.2f} for the floor (1.00 = linear scaling); "
        "small N pays for ramp-up and the final drain"
    )
    return report
