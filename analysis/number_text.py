"""One rule for the numbers the reports show, the same as elmrun's
(src/core/number_text.hpp): counts as integers, grid values as written in the
job file, measured values with MEASURED_DIGITS significant digits and their
trailing zeros (0.7130 next to 0.7166, 6.229 next to 1.581e+06).
"""
from __future__ import annotations

import math

MEASURED_DIGITS = 4
MISSING = "-"


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd
        if value is pd.NA:
            return True
    except ImportError:
        pass
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def measured_text(value) -> str:
    """'0.7130', '6.229', '77.40', '1235', '1.581e+06'; '-' for no value."""
    if _missing(value):
        return MISSING
    number = float(value)
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    text = f"{number:#.{MEASURED_DIGITS}g}"
    return text[:-1] if text.endswith(".") else text


def count_text(value) -> str:
    """A whole number: '10000', never '1e+04' or '10000.0'; '-' for no value."""
    if _missing(value):
        return MISSING
    return str(int(round(float(value))))


def grid_text(value) -> str:
    """A grid or config value as a job file writes it: '8' not '8.0', '0.002', text as is."""
    if isinstance(value, str):
        return value
    if _missing(value):
        return MISSING
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)
