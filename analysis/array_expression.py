"""Slurm --array values (standard library only: slurm/submit.py uses it too)."""


def array_expression(indices) -> str:
    """Slurm --array value: sorted indices compressed into ranges, e.g. 0-3,7,9-10."""
    values = sorted({int(i) for i in indices})
    parts, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            parts.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ",".join(parts)
