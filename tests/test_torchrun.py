"""kflab.torchrun turns a distributed run that hangs into a sentence, within a bounded time."""

import os
import textwrap
import time

from kflab import rankprobe, torchrun

SLEEPER = """\
import os, time
from pathlib import Path
Path(f"pid-{os.environ['RANK']}").write_text(str(os.getpid()))
time.sleep(600)
"""

WAITER = """\
import datetime, torch.distributed as dist
dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=3))
print("joined")
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_hanging_run_is_stopped_with_its_whole_process_group(tmp_path):
    start = time.monotonic()
    run = torchrun.run(write(tmp_path, "sleeper.py", SLEEPER), nproc=2, cwd=tmp_path, timeout_s=8)
    assert run.timed_out and time.monotonic() - start < 30
    assert "was still running after 8 s" in run.failure("`torchrun sleeper.py`")
    pids = [int((tmp_path / f"pid-{r}").read_text()) for r in (0, 1)]
    for pid in pids:  # both ranks were killed with the launcher, none is left behind
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        assert not alive, f"rank process {pid} survived the timeout"


def test_a_node_that_never_joins_ends_at_the_rendezvous_timeout(tmp_path):
    start = time.monotonic()
    run = torchrun.run(write(tmp_path, "hi.py", "print('hi')\n"), nproc=1, nnodes=2, cwd=tmp_path,
                       join_timeout_s=3, timeout_s=60)
    assert not run.timed_out and not run.ok and time.monotonic() - start < 30
    assert "RendezvousTimeoutError" in run.output
    assert "failed with exit status" in run.failure("`torchrun hi.py`")


def test_a_rank_alone_gives_up_after_its_process_group_timeout(tmp_path):
    run = torchrun.run_one_rank(write(tmp_path, "waiter.py", WAITER), world_size=2, cwd=tmp_path, timeout_s=40)
    assert not run.timed_out and not run.ok and run.elapsed_s < 30
    assert "1/2 clients joined" in run.output


def test_tracebacks_keep_only_the_learners_frames(tmp_path):
    text = textwrap.dedent(f"""\
        [rank1]: Traceback (most recent call last):
        [rank1]:   File "{tmp_path}/train.py", line 9, in <module>
        [rank1]:     main()
        [rank1]:   File "/usr/lib/python3/site-packages/torch/x.py", line 3, in f
        [rank1]:     raise RuntimeError("boom")
        [rank1]: RuntimeError: boom
        """)
    trimmed = torchrun.trim_traceback(text, (tmp_path,))
    assert "train.py" in trimmed and "torch/x.py" not in trimmed and trimmed.endswith("RuntimeError: boom")


def test_a_rank_that_torch_aborts_at_exit_is_blamed_on_torch_not_on_the_learner(tmp_path, monkeypatch):
    # What torch 2.11-2.14 leave behind in about one 2-process gloo run in ten: training finished,
    # then libstdc++ aborted rank 1 as Python shut down (pytorch/pytorch#190489).
    run = torchrun.Launch(cmd=[], returncode=1, elapsed_s=9.0, timeout_s=120,
                          output="torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\n"
                                 "  traceback : Signal 6 (SIGABRT) received by PID 32469",
                          stdout={0: "epoch=1 loss=1.2 accuracy=0.6\n", 1: ""},
                          stderr={0: "", 1: "terminate called without an active exception\n"}, roots=(tmp_path,))
    for installed, advice in (((2, 14), "upgrade to torch 2.15 or newer"), ((2, 15), "not your code: run the check again")):
        monkeypatch.setattr(torchrun, "_torch_version", lambda: installed)
        message = run.failure("`torchrun train.py`")
        assert advice in message and "not your code" in message, (
            f"With torch {installed}, a crash inside torch at exit must not send the learner to fix their code:\n{message}")
    run.stderr[1] += "Traceback (most recent call last):\nValueError: a real error\n"
    assert "Read the error below, fix your code" in run.failure("`torchrun train.py`"), (
        "A rank that also raised an exception is the learner's error, and must be shown as one")


def _traceback(tmp_path, line: int, code: str, error: str) -> str:
    return "".join(f"[rank0]: {text}\n" for text in (
        "Traceback (most recent call last):", f'  File "{tmp_path}/train.py", line {line}, in main', f"    {code}",
        '  File "/usr/lib/python3/site-packages/torch/distributed/distributed_c10d.py", line 6614, in barrier',
        "    work.wait()", f"RuntimeError: {error}"))


GLOO_TIMEOUT = "[gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting 45000ms for recv operation to complete"
CLOSED = "[gloo/transport/tcp/pair.cc:561] Connection closed by peer [127.0.0.1]:42897. This is typically caused by a remote ..."
# torchrun's summary when only rank 1 exited non-zero (rank 0 had finished, with status 0)
ONLY_RANK_1_FAILED = "Root Cause (first observed failure):\n[0]:\n  rank      : 1 (local_rank: 1)\n  exitcode  : 1\n"


def test_ranks_stuck_in_different_collectives_are_told_where_each_waited(tmp_path):
    run = torchrun.Launch(cmd=[], returncode=1, elapsed_s=60.0, timeout_s=120, output="",
                          stderr={0: _traceback(tmp_path, 233, "dist.barrier()", GLOO_TIMEOUT),
                                  1: _traceback(tmp_path, 126, "loss.backward()  # DDP all-reduces here", GLOO_TIMEOUT)},
                          roots=(tmp_path,))
    message = run.failure("`torchrun train.py`")
    assert "rank 0 at train.py:233 `dist.barrier()`, rank 1 at train.py:126 `loss.backward()`" in message, message
    assert "same collectives in the same order" in message


def test_a_rank_whose_peer_finished_early_is_told_the_ranks_ran_different_steps(tmp_path):
    run = torchrun.Launch(cmd=[], returncode=1, elapsed_s=9.0, timeout_s=120, output=ONLY_RANK_1_FAILED,
                          stderr={0: "", 1: _traceback(tmp_path, 126, "loss.backward()", CLOSED)}, roots=(tmp_path,))
    message = run.failure("`torchrun train.py`")
    assert "rank 1 lost its connection to rank 0, which had already finished without an error" in message, message
    (tmp_path / "loads.jsonl").write_text('{"rank": 0, "path": "checkpoints/checkpoint.pt"}\n')
    run.probe_dir = tmp_path  # the probe saw only rank 0 call torch.load
    message = run.failure("`torchrun train.py`")
    assert "only rank 0 loaded the checkpoint" in message and "did not resume from the same epoch" in message, message


PROBED = """\
import torch
model = torch.nn.Linear(2, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for _ in range(2):
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, "ck.pt")
opt.load_state_dict(torch.load("ck.pt")["optimizer"])
"""


def test_the_probe_records_saves_loads_and_the_first_optimizer_step(tmp_path):
    run = torchrun.run(write(tmp_path, "probed.py", PROBED), nproc=1, cwd=tmp_path, timeout_s=60,
                       probe_dir=tmp_path / "probe")
    assert run.ok, run.failure("`torchrun probed.py`")
    assert [r["path"] for r in rankprobe.read(tmp_path / "probe", "saves")] == ["ck.pt"]
    assert [r["path"] for r in rankprobe.read(tmp_path / "probe", "loads")] == ["ck.pt"]
    assert rankprobe.read(tmp_path / "probe", "steps") == [{"rank": 0, "state_entries": 0}], "one, before the first step"


def test_a_checkpoint_is_read_for_ddp_keys_and_optimizer_state(tmp_path):
    import torch

    plain = torch.nn.Linear(2, 1)
    torch.save({"epoch": 3, "model": {f"module.{k}": v for k, v in plain.state_dict().items()},
                "optimizer": torch.optim.SGD(plain.parameters(), lr=0.1).state_dict()}, tmp_path / "ddp.pt")
    assert rankprobe.read_checkpoint(tmp_path / "ddp.pt") == {"ddp_keys": ["module.weight", "module.bias"],
                                                              "optimizer_entries": 0}
    assert "error" in rankprobe.read_checkpoint(tmp_path / "missing.pt")
