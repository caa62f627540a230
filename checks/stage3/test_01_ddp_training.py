"""Lab 3.1: a DDP training script (train.py), run with the real torchrun: gloo on the CPU, NCCL on a GPU."""

import json
from pathlib import Path

import pytest

from kflab import katib_trial, rankprobe, torchrun
from kflab.failures import CheckFailure, expect

EPOCHS, MIN_ACCURACY, SAMPLES, WAIT_S = 4, 0.85, 4096, 45  # --timeout-s WAIT_S: a stuck collective fails, showing where,
RUN = f"`torchrun --nproc-per-node=2 train.py --timeout-s {WAIT_S}`"  # before the check stops the run at 120 s


def metric_lines(text: str) -> list[dict]:
    """Rank output as Katib's StdOut collector reads it: one dict per line that reports an epoch."""
    rows = []
    for line in text.splitlines():
        found = katib_trial.parse_metrics(line, ["epoch", "loss", "accuracy"])
        if found["epoch"] and found["accuracy"]:
            rows.append({k: v[-1] if v else None for k, v in found.items()})
    return rows


def launch(lab, workdir: Path, args: list, probe_dir: Path | None = None) -> torchrun.Launch:
    workdir.mkdir(parents=True, exist_ok=True)
    run = torchrun.run(lab.file("train.py"), [*args, "--timeout-s", WAIT_S, "--checkpoint-dir", workdir / "checkpoints"],
                       nproc=2, cwd=workdir, timeout_s=120, probe_dir=probe_dir)
    if run.ok:
        return run
    race = all(word in "\n".join([run.output, *run.stderr.values()]) for word in ("FileNotFoundError", "save_checkpoint"))
    raise CheckFailure(run.failure(RUN, timeout="args.timeout_s") + (
        "\nLikely cause: more than one rank saves the checkpoint, and they race for its temporary file. Call "
        "save_checkpoint only on rank 0." if race else ""))


@pytest.fixture(scope="module")
def training(lab, lab_tmp):
    """One 2-process CPU run with per-rank debug records, a record of every torch.save, and the checkpoint it left."""
    work = lab_tmp / "run"
    run = launch(lab, work, ["--epochs", EPOCHS, "--debug-dir", work / "debug"], probe_dir=work / "probe")
    records = {}
    for rank in (0, 1):
        path = work / "debug" / f"rank{rank}.json"
        expect(path.exists(), f"Rank {rank} wrote no debug record ({path.name}). Keep the given `write_debug(...)` call at "
                              "the end of main() and run the script with --debug-dir.")
        records[rank] = json.loads(path.read_text())
    return {"run": run, "records": records, "saves": rankprobe.read(work / "probe", "saves"), "work": work,
            "metrics": metric_lines(run.stdout.get(0, "")),
            "checkpoint": rankprobe.read_checkpoint(work / "checkpoints" / "checkpoint.pt")}  # before the resumed run


@pytest.fixture(scope="module")
def resumed(lab, training):
    """The same job started again with --resume and one more epoch, from the first run's checkpoint."""
    probe = training["work"] / "probe-resume"
    run = launch(lab, training["work"], ["--epochs", EPOCHS + 1, "--resume"], probe_dir=probe)
    return {"metrics": metric_lines(run.stdout.get(0, "")), "steps": rankprobe.read(probe, "steps")}


def need_metrics(training) -> list[dict]:
    rows = training["metrics"]
    expect(rows, "Rank 0 printed no metric lines that Katib's StdOut collector can read. Print one line per epoch such as "
                 "`epoch=1 loss=0.4321 accuracy=0.8765` (name=value pairs) from rank 0.")
    return rows


def expect_fractions(rows: list[dict]) -> None:
    """Accuracy is printed as a fraction: Katib reads `accuracy=26.1%` as 26.1, which would beat any goal."""
    odd = [r["accuracy"] for r in rows if not 0 <= r["accuracy"] <= 1]
    shown = odd[0] if odd else ""
    expect(not odd, f"Rank 0 prints accuracy={shown}, which is not a fraction between 0 and 1 (a percent?). Katib reads "
                    f"the number as printed, and {shown} would beat any goal. Print the fraction: `accuracy={{accuracy:.4f}}`.")


def test_training_converges_past_85_percent_accuracy(training):
    """Does a 4-epoch, 2-process run reach 85% validation accuracy, printed as a fraction for every epoch?"""
    rows = need_metrics(training)
    expect_fractions(rows)
    expect([int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1)),
           f"Rank 0 reported epochs {[int(r['epoch']) for r in rows]}, not 1 to {EPOCHS}. Print one metric line per epoch.")
    expect(rows[-1]["accuracy"] >= MIN_ACCURACY,
           f"After {EPOCHS} epochs the accuracy is {rows[-1]['accuracy']:.3f}, below {MIN_ACCURACY}. Check that every "
           "rank steps its optimizer on its batches and that DDP wraps the model that you train.")


def test_every_rank_reports_the_loss_over_all_shards(training):
    """Does each epoch's loss come out the same on both ranks, averaged over both shards?"""
    sizes = {rank: rec.get("world_size") for rank, rec in training["records"].items()}
    expect(set(sizes.values()) == {2}, f"The ranks saw world sizes {sizes}, so there were no two shards to sum over. "
                                       "Join one process group in setup_distributed first.")
    losses = {rank: rec.get("epoch_losses") or {} for rank, rec in training["records"].items()}
    shown = [{epoch: round(value, 4) for epoch, value in losses[rank].items()} for rank in (0, 1)]
    expect(losses[0] and losses[0] == losses[1],
           f"The epoch losses differ between ranks (rank 0: {shown[0]}, rank 1: {shown[1]}), so each "
           "rank averaged only its own shard. In train_one_epoch, call dist.all_reduce(total) before dividing.")


def test_bf16_precision_runs_the_forward_pass_under_autocast(lab, lab_tmp, training):
    """With --precision bf16, does the first layer compute in bfloat16 (autocast, which CPUs have too), and in fp32 by default?"""
    default = training["records"][0]["dtypes"].get("first_layer")
    expect(default == "torch.float32", f"On the CPU with the default precision the first layer computed in {default}. "
                                       "Enable autocast only when precision is \"bf16\".")
    work = lab_tmp / "bf16"
    launch(lab, work, ["--epochs", 1, "--precision", "bf16", "--debug-dir", work / "debug"])
    dtype = json.loads((work / "debug" / "rank0.json").read_text())["dtypes"].get("first_layer")
    expect(dtype == "torch.bfloat16", f"With --precision bf16 the first layer computed in {dtype}. Run the forward pass "
                                      "and the loss under torch.autocast(device_type=device.type, dtype=torch.bfloat16, "
                                      "enabled=precision == \"bf16\").")


def test_only_rank_0_prints_metrics(training):
    """Does rank 0 print the metric lines, and no other rank?"""
    need_metrics(training)
    others = metric_lines(training["run"].stdout.get(1, ""))
    expect(not others, f"Rank 1 printed {len(others)} metric line(s) too. Print only when rank == 0, so the job's log "
                       "(and Katib's collector) sees each epoch once.")


def test_ranks_join_one_gloo_process_group(training):
    """Did both ranks join one process group of size 2, with the gloo backend on the CPU?"""
    for rank, rec in training["records"].items():
        expect(rec["world_size"] == 2, f"Rank {rank} was not in a 2-process group (world size {rec['world_size']}). "
                                       "Call dist.init_process_group(...) before building the model.")
        expect(rec["backend"] == "gloo", f"Rank {rank} used the {rec['backend']!r} backend on a CPU-only run. "
                                         "Pick it in code: 'nccl' when CUDA is available, else 'gloo'.")


def test_parameters_are_identical_on_every_rank(training):
    """After training, do both ranks hold exactly the same parameters (DDP's promise)?"""
    recs = training["records"]
    expect(recs[0]["world_size"] == 2, "The ranks never formed a process group, so nothing kept their weights in step. "
                                       "Initialise the process group and wrap the model in DistributedDataParallel.")
    expect(recs[0]["param_sha256"] == recs[1]["param_sha256"],
           "Rank 0 and rank 1 ended with different parameters. Wrap the model in DistributedDataParallel (it broadcasts "
           "rank 0's weights and averages gradients) and train the wrapped model.")


def expect_shards_partition_the_data(training) -> None:
    """Fail unless, in every epoch, the two ranks read disjoint shards that cover every sample once."""
    recs = training["records"]
    for epoch in map(str, range(1, EPOCHS + 1)):
        a, b = recs[0]["indices"].get(epoch, []), recs[1]["indices"].get(epoch, [])
        overlap = set(a) & set(b)
        expect(not overlap, f"In epoch {epoch} both ranks read {len(overlap)} of the same samples. " + (
            "Give the DataLoader a DistributedSampler(train_set, num_replicas=world_size, rank=rank) so each rank gets "
            "its own shard." if max(len(a), len(b)) >= SAMPLES else "They read the same shard: pass each process's own "
            "rank=rank to DistributedSampler." if set(a) == set(b) else "Each read a half, but their samplers shuffled with "
            "different seeds: use the same seed on every rank (DistributedSampler's seed=args.seed, and torch.manual_seed), "
            "never one that depends on the rank."))
        expect(set(a) | set(b) == set(range(SAMPLES)) and len(a) + len(b) == SAMPLES,
               f"In epoch {epoch} the ranks read {len(set(a) | set(b))} distinct samples of {SAMPLES}. Every sample "
               "should be read exactly once per epoch.")


def test_sampler_shards_are_disjoint_and_cover_the_data(training):
    """In every epoch, do the ranks read disjoint shards that together cover all samples once?"""
    expect_shards_partition_the_data(training)


def test_sampler_reshuffles_every_epoch(training):
    """Does each epoch shuffle differently (sampler.set_epoch), with the shards still disjoint?"""
    expect_shards_partition_the_data(training)
    orders = [training["records"][0]["indices"][str(e)] for e in range(1, EPOCHS + 1)]
    expect(orders[0] != sorted(orders[0]), "Rank 0 read its samples in index order (0, 2, 4, ...) in every epoch: its "
                                           "sampler does not shuffle. Create the DistributedSampler with shuffle=True.")
    expect(len({tuple(o) for o in orders}) == EPOCHS,
           "Rank 0 read its samples in the same order every epoch. Call sampler.set_epoch(epoch) at the start of each "
           "epoch: DistributedSampler seeds its shuffle with the epoch number.")


def test_only_rank_0_writes_the_checkpoint(training):
    """Does exactly one rank, rank 0, call torch.save, and does the checkpoint on disk hold the plain model's keys?"""
    writers = sorted({s["rank"] for s in training["saves"]})
    expect(writers, "No rank called torch.save. Save a checkpoint (epoch, model and optimizer state) with torch.save "
                    "at the end of each epoch into --checkpoint-dir.")
    expect(writers == [0], f"Ranks {writers} all wrote checkpoints. Every rank holds the same weights; save only when "
                           "rank == 0, or the ranks race to write the same file.")
    saved = training["checkpoint"]
    expect("error" not in saved, f"checkpoints/checkpoint.pt could not be read after the run ({saved.get('error')}). "
                                 "Save to Path(args.checkpoint_dir) / 'checkpoint.pt' with torch.save.")
    expect(not saved["ddp_keys"], f"The checkpoint's model keys start with DDP's `module.` prefix "
                                  f"(`{(saved['ddp_keys'] or [''])[0]}`), so they load only into a model wrapped in DDP. "
                                  "Save model.module.state_dict(), so the checkpoint loads into a plain model.")


def test_resumed_run_continues_after_the_saved_epoch(training, resumed):
    """Started again with --resume, does the job train only epoch 5, from the saved weights and optimizer state?"""
    first, again = need_metrics(training), resumed["metrics"]
    epochs = [int(r["epoch"]) for r in again]
    expect(epochs == [EPOCHS + 1], f"With --resume and --epochs {EPOCHS + 1} after a {EPOCHS}-epoch run, rank 0 reported "
                                   f"epochs {epochs or 'none'}, not [{EPOCHS + 1}]. Load the checkpoint and start at its "
                                   "saved epoch + 1.")
    fresh, trained = first[0]["loss"], first[-1]["loss"]
    expect(again[0]["loss"] < (fresh + trained) / 2,
           f"The resumed epoch's loss ({again[0]['loss']:.3f}) looks like a fresh start (epoch 1 had {fresh:.3f}, "
           f"epoch {EPOCHS} had {trained:.3f}). Load the model and optimizer state from the checkpoint, not only the epoch.")
    saved = training["checkpoint"].get("optimizer_entries")
    expect(saved is not None, "The checkpoint holds no optimizer state, so a resumed run restarts SGD's momentum from "
                              "zero. Save opt.state_dict() in the checkpoint next to the model's state.")
    lost = [str(s["rank"]) for s in resumed["steps"] if not s["state_entries"]]
    ranks = f"rank{'s' * (len(lost) > 1)} {' and '.join(lost)}"
    expect(not (saved and lost), f"On {ranks} the resumed run's first optimizer step found no optimizer state (SGD's "
                                 "momentum), although the checkpoint holds it. In load_checkpoint, also call "
                                 "opt.load_state_dict(state['optimizer']).")


def test_a_missing_rank_fails_within_the_timeout(lab, lab_tmp):
    """With rank 1 of 2 never started, does rank 0 give up after --timeout-s 5 instead of hanging?"""
    (work := lab_tmp / "alone").mkdir(exist_ok=True)
    run = torchrun.run_one_rank(lab.file("train.py"), ["--timeout-s", 5, "--epochs", 1, "--checkpoint-dir", work / "ck"],
                                world_size=2, cwd=work, timeout_s=40)
    expect(not run.timed_out, "With one of two ranks missing, train.py was still waiting after 40 s and had to be killed. "
                              "Pass timeout=timedelta(seconds=args.timeout_s) to dist.init_process_group, so a rank that "
                              "never joins fails in seconds instead of after the 30-minute default.")
    expect(not run.ok, "train.py finished although rank 1 of 2 never started, so it never joined a process group. "
                       "Call dist.init_process_group(backend, timeout=...) first: it waits for every rank.")
    expect("timed out" in run.output.lower(),
           "train.py failed, but not by timing out while it waited for rank 1. Fix this error first:\n"
           + torchrun.trim_traceback(run.output, run.roots))
    expect(run.elapsed_s < 30, f"train.py gave up only after {run.elapsed_s:.0f} s with --timeout-s 5. "
                               "Pass args.timeout_s to init_process_group as timedelta(seconds=args.timeout_s).")


@pytest.mark.gpu
def test_trains_on_cuda_with_nccl_and_bf16_autocast(lab, lab_tmp, record_property):
    """On one GPU, does the same script pick NCCL, compute in bfloat16 under autocast, converge, and how fast is it?"""
    work = lab_tmp / "gpu"
    work.mkdir(exist_ok=True)
    run = torchrun.run(lab.file("train.py"), ["--epochs", EPOCHS, "--device", "cuda", "--debug-dir", work / "debug",
                                              "--checkpoint-dir", work / "ck"], nproc=1, cwd=work, timeout_s=300)
    expect(run.ok, run.failure("`torchrun --nproc-per-node=1 train.py --device cuda`"))
    rec = json.loads((work / "debug" / "rank0.json").read_text())
    expect(rec["backend"] == "nccl", f"On a GPU the script used {rec['backend']!r}; pick 'nccl' when CUDA is available.")
    expect(rec["dtypes"].get("first_layer") == "torch.bfloat16",
           f"The first layer computed in {rec['dtypes'].get('first_layer')}, not bfloat16. Wrap the forward pass in "
           "torch.autocast(device_type='cuda', dtype=torch.bfloat16).")
    rows = metric_lines(run.stdout.get(0, ""))
    expect_fractions(rows)
    expect(rows and rows[-1]["accuracy"] >= MIN_ACCURACY, f"On the GPU the run reached {rows[-1]['accuracy'] if rows else 'no'} "
                                                          f"accuracy, below {MIN_ACCURACY}.")
    big = ["--epochs", 3, "--device", "cuda", "--samples", 262144, "--features", 1024, "--hidden", 4096,
           "--batch-size", 4096, "--checkpoint-dir", work / "ck-big"]
    for precision in ("fp32", "bf16"):
        bench = torchrun.run(lab.file("train.py"), [*big, "--precision", precision], nproc=1, cwd=work, timeout_s=300)
        expect(bench.ok, bench.failure(f"the {precision} throughput run"))
        speed = max(katib_trial.parse_metrics(bench.stdout.get(0, ""), ["samples_per_sec"])["samples_per_sec"] or [0.0])
        record_property(f"samples_per_sec_{precision}", speed)
        print(f"GPU throughput, MLP 1024-4096-4096-4, batch 4096, {precision}: {speed:,.0f} samples/s")
