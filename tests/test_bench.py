"""scripts/bench: its command line, without running the (slow) benchmarks themselves."""

from __future__ import annotations

import pytest

from kflab import bench


def test_an_unknown_benchmark_name_is_refused_with_the_known_ones(capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(["nonsense", "--out", "/dev/null"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2, "argparse's usage error, before anything runs"
    assert "no benchmark named 'nonsense'" in err and all(name in err for name in bench.BENCHMARKS), err
