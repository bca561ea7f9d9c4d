"""number_text.py: the same rule as elmrun's core/number_text (tests/unit/test_number_text.cpp)."""
import math

from number_text import count_text, grid_text, measured_text


def test_measured_values_keep_four_significant_digits():
    assert measured_text(0.713) == "0.7130"
    assert measured_text(0.71657) == "0.7166"
    assert measured_text(6.22879) == "6.229"
    assert measured_text(1580780.0) == "1.581e+06"
    assert measured_text(77.4) == "77.40"
    assert measured_text(1234.6) == "1235"
    assert measured_text(0.002) == "0.002000"
    assert measured_text(1.973e-06) == "1.973e-06"
    assert measured_text(0.0) == "0.000"
    assert measured_text(math.inf) == "inf"
    assert measured_text(math.nan) == "-" and measured_text(None) == "-"


def test_counts_are_whole():
    assert count_text(10000.0) == "10000"
    assert count_text(642) == "642"
    assert count_text(math.nan) == "-"


def test_grid_values_as_a_job_file_writes_them():
    assert grid_text(8.0) == "8"
    assert grid_text(2000.0) == "2000"
    assert grid_text(0.002) == "0.002"
    assert grid_text("relu") == "relu"
