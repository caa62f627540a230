"""Start one command confined: the wrapper the grader puts around each submission's pytest.

Standalone on purpose: it uses the standard library only and is started with
`python -I -S`, so nothing of the course (or of the learner) is imported before
the limits are in place. Usage: `sandbox.py CONFIG.json -- COMMAND...`.

Always: resource limits (address space, file size, process count, no core
files) and death with the grader (PR_SET_PDEATHSIG). Where the kernel allows:
new network, mount and PID namespaces (the network namespace is what
`unshare -n` makes, with its loopback up), every mount read-only except the
submission's own folder, private /tmp and /dev/shm, the instructor's solutions
hidden, and no capabilities left for the command. As root it also joins a pids
cgroup. An ordinary user gets the same namespaces inside a new user namespace
that maps only their own uid and gid (what `unshare -r` does, without the
mapping to root), where the kernel lets unprivileged users create one. It
writes what it achieved to the `report` file of the config, as JSON lines.
"""

import ctypes
import errno
import fcntl
import json
import os
import resource
import signal
import socket
import struct
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 0x4000, 0x40000
AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = -100, 0x8000, 1
OPEN_TREE_CLONE, MOVE_MOUNT_F_EMPTY_PATH, AT_EMPTY_PATH = 1, 4, 0x1000
# Syscalls added after 5.0 share one number on every architecture but alpha.
SYS_OPEN_TREE, SYS_MOVE_MOUNT, SYS_MOUNT_SETATTR = 428, 429, 442
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 24, 36, 38

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args) -> int:
    # Integers as C longs: syscall(2) is variadic and reads every argument as a long.
    return libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) if isinstance(a, int) else a for a in args))


def _ok(ret: int, what: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def _mount(src, target, fstype, flags, data=None):
    enc = lambda s: s.encode() if isinstance(s, str) else s  # noqa: E731
    _ok(libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _setattr(path: str, set_: int, clear: int) -> None:
    attr = struct.pack("QQQQ", set_, clear, 0, 0)
    _ok(_syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), AT_RECURSIVE, attr, len(attr)), f"mount_setattr {path}")


def _report(cfg: dict, **facts) -> None:
    with open(cfg["report"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(facts) + "\n")


def set_limits(cfg: dict, names=None) -> None:
    for name, value in cfg["rlimits"].items():
        if names is None or name in names:
            resource.setrlimit(getattr(resource, name), (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the file-size limit fails with EFBIG, no kill


def shared_process_limit(cfg: dict) -> str:
    """An ordinary user without a user namespace: RLIMIT_NPROC counts all of the user's tasks."""
    set_limits(cfg, ["RLIMIT_NPROC"])
    return f"at most {cfg['rlimits']['RLIMIT_NPROC']} per user (RLIMIT_NPROC)"


def loopback_up() -> None:
    """Bring `lo` up in the fresh network namespace (SIOCGIFFLAGS / SIOCSIFFLAGS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, 0x8913, struct.pack("16sH22x", b"lo", 0)))[1]
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))


def read_only_view(cfg: dict) -> None:
    """Everything read-only, private scratch folders, the box writable, hidden paths masked."""
    keep = sorted([(cfg["box"], True)] + [(p, False) for p in cfg["keep"]], key=lambda k: len(k[0]))  # parents first
    clones = [(_ok(_syscall(SYS_OPEN_TREE, AT_FDCWD, p.encode(), OPEN_TREE_CLONE | AT_RECURSIVE), f"open_tree {p}"), p, rw)
              for p, rw in keep]
    _setattr("/", MOUNT_ATTR_RDONLY, 0)
    for path in cfg["scratch"]:  # private, size-capped, gone when the namespace ends
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['scratch_mb']}m,mode=1777")
    for fd, path, rw in clones:  # put the kept trees back where they were
        os.makedirs(path, exist_ok=True)
        _ok(_syscall(SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, path.encode(), MOVE_MOUNT_F_EMPTY_PATH), f"move_mount {path}")
        os.close(fd)
        _setattr(path, 0 if rw else MOUNT_ATTR_RDONLY, MOUNT_ATTR_RDONLY if rw else 0)
    for path in cfg["hide"]:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=755")


def drop_privileges() -> None:
    """No capabilities survive exec: the command cannot remount, unshare or leave its cgroup."""
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def run_and_reap(cmd: list[str]) -> int:
    """Fork the command, reap every orphan that comes to us, return the command's exit code."""
    child = os.fork()
    if child == 0:
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        os.execv(cmd[0], cmd)
    while True:
        pid, status = os.wait()
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


def kill_children() -> None:
    """SIGKILL every remaining child (orphans come to us as subreaper) until none is left."""
    while True:
        mine = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == os.getpid()]
        if not mine:
            return
        for pid in mine:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def _ppid(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def map_own_ids(uid: int, gid: int) -> None:
    """In a fresh user namespace: map our own uid and gid to themselves, and nothing else."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)


# What an ordinary user's refused unshare(2) usually means, for the instructor who reads the notes.
UNSHARE_REFUSALS = {
    errno.ENOSPC: ": the kernel's limit on user namespaces is reached (sysctl user.max_user_namespaces)",
    errno.EPERM: ": this kernel or container does not let ordinary users create user namespaces",
}


def enter_namespaces(flags: int) -> None:
    """unshare(2) the namespaces; as an ordinary user, inside a user namespace of our own."""
    uid, gid = os.geteuid(), os.getegid()
    if uid != 0:
        flags |= CLONE_NEWUSER
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare failed ({os.strerror(err)}){UNSHARE_REFUSALS.get(err, '') if uid else ''}")
    if uid != 0:
        map_own_ids(uid, gid)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # proves we hold CAP_SYS_ADMIN over the new mount namespace
    if flags & CLONE_NEWNET:
        loopback_up()


def namespaces_work(flags: int) -> str | None:
    """Try the namespaces in a throwaway child first; an ordinary user may be refused part way.

    Ubuntu 24.04, for one, lets an unprivileged process create a user namespace but
    denies it every capability there, so the mounts and the loopback would fail after
    the point of no return. Returns why they do not work here, or None.
    """
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the probe must never return into the wrapper's code
        os.close(read_end)
        code = 0
        try:
            enter_namespaces(flags)
        except BaseException as exc:  # noqa: BLE001
            os.write(write_end, (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).encode())
            code = 1
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        why = fh.read().decode(errors="replace")
    _, status = os.waitpid(child, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return None
    return f"as an ordinary user: {why or 'the namespace probe died'}"


def confined(cfg: dict, cmd: list[str]) -> int:
    """Namespaces, read-only view, a bound on processes; the namespace's init runs the command."""
    facts = {}
    rootless = os.geteuid() != 0
    if cfg.get("cgroup_procs"):
        try:
            with open(cfg["cgroup_procs"], "w") as fh:
                fh.write(str(os.getpid()))
            facts["processes"] = f"at most {cfg['max_procs']} (pids cgroup)"
        except OSError as exc:
            facts["processes_problem"] = f"could not join the pids cgroup ({exc.strerror})"
    flags = CLONE_NEWNS | CLONE_NEWPID | (0 if cfg["network"] else CLONE_NEWNET)
    problem = namespaces_work(flags) if rootless else None
    if problem is None:
        try:
            enter_namespaces(flags)
        except OSError as exc:
            problem = exc.strerror or str(exc)
    if problem is not None:
        if rootless:
            facts["processes"] = shared_process_limit(cfg)
        facts["namespaces_problem"] = problem
        _report(cfg, **facts)
        return plain(cmd)
    if rootless:  # counted in our own user namespace: this submission's tasks alone, not the user's
        resource.setrlimit(resource.RLIMIT_NPROC, (cfg["max_procs"], cfg["max_procs"]))
        facts["processes"] = f"at most {cfg['max_procs']} (RLIMIT_NPROC in its own user namespace)"
    facts["pid_namespace"] = True
    if not cfg["network"]:
        facts["network"] = "isolated (own network namespace, loopback only)"
    try:
        read_only_view(cfg)
        os.chdir(os.getcwd())  # the old working directory is on the read-only mount; enter the box's own
        facts["files"] = "read-only outside the submission's folder; private /tmp and /dev/shm"
    except OSError as exc:
        facts["files_problem"] = str(exc)
    _report(cfg, **facts)
    init = os.fork()
    if init == 0:  # pid 1 of the new namespace: when it exits, the kernel kills everything left in it
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        try:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        except OSError:
            pass  # the outer /proc stays visible; not worth failing the run for
        drop_privileges()
        os._exit(run_and_reap(cmd))
    _, status = os.waitpid(init, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def plain(cmd: list[str]) -> int:
    """Without namespaces: we stay the subreaper of the command's tree and clean it up."""
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGTERM, lambda *_: (kill_children(), os._exit(143)))
    code = run_and_reap(cmd)
    kill_children()
    return code


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as fh:
        cfg = json.load(fh)
    cmd = argv[argv.index("--") + 1:]
    libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != cfg["parent"]:
        return 125  # the grader died before we could tie our life to it
    # RLIMIT_NPROC waits until we know whether it will count in a user namespace of ours.
    # Root is exempt from it, whatever its value.
    set_limits(cfg, [name for name in cfg["rlimits"] if name != "RLIMIT_NPROC"])
    if cfg.get("confine", True):
        return confined(cfg, cmd)
    facts = {"namespaces_problem": "not asked for"}
    if os.geteuid() != 0:
        facts["processes"] = shared_process_limit(cfg)
    _report(cfg, **facts)
    return plain(cmd)


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main(sys.argv))
