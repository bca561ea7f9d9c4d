"""analysis/allreduce_projection.py: the alpha-beta fit and the projected
all-reduce cost, against values worked out by hand."""

import os
import subprocess

import pytest

from allreduce_projection import allreduce_seconds, fit_alpha_beta

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "allreduce_projection.py")


def test_fit_recovers_alpha_and_beta_of_exact_points():
    # t = 2 * 5 us + s / (1 GB/s): 27316 B -> 37.316 us, 216016 B -> 226.016 us
    alpha, beta = fit_alpha_beta([(27316, 37.316e-6), (216016, 226.016e-6)])
    assert alpha == pytest.approx(5e-6, rel=1e-9)
    assert beta == pytest.approx(1e9, rel=1e-9)


def test_projection_at_8_ranks_on_100_gbps():
    # 2 * log2(8) * 5 us + 2 * 7/8 * 1e6 B / 12.5e9 B/s = 30 us + 140 us
    assert allreduce_seconds(8, 1e6, 5e-6, 12.5e9) == pytest.approx(170e-6, rel=1e-12)
    assert allreduce_seconds(1, 1e6, 5e-6, 12.5e9) == 0.0


def test_one_size_cannot_be_fitted():
    with pytest.raises(ValueError):
        fit_alpha_beta([(1000, 1e-5), (1000, 2e-5)])


def test_bad_argument_is_one_line_and_exit_2():
    r = subprocess.run(["/usr/bin/python3", SCRIPT, "--measured", "27316", "--model", "x:1:1"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "--measured '27316'" in r.stderr
