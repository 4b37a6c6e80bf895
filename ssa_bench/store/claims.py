"""One claim per run: which single process or job may train it, safe on a shared file system.

A claim is the file ``runs/<id>/claim.json`` naming its owner (kind, host, pid, SLURM job id, time).
It is created with ``os.link`` of a fully written temp file onto the claim's name: ``link`` fails
with EEXIST when the name exists, atomically, on local file systems and on NFS/Lustre alike (NFS v2/3
``O_EXCL`` is not; ``link`` is the classic NFS-safe lock), so of any number of racing claimers
exactly one wins and nobody ever reads a half-written claim.

Changing an existing claim (hand-over, release, breaking a stale one) is compare-and-swap: under a
short lock (``claim.lock``, itself created by ``link``) re-read the holder, compare, then
``os.replace``/``unlink``. Two breakers of one stale claim serialise on the lock; the second sees the
first one's fresh claim, which is live, and loses.

Stale claims (docs/ARCHITECTURE.md, "Claims"):
- same host, kind 'local'/'submitter': its pid is gone;
- another host: its heartbeat is older than :data:`HEARTBEAT_TIMEOUT_S` (the owner refreshes the
  claim's mtime with :func:`heartbeat`);
- kind 'slurm': the liveness test registered for 'slurm' (:func:`register_liveness`) says False;
  None (SLURM does not answer) or no test registered count as live: never break what may be running.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

from ssa_bench.store.atomic import fsync_dir
from ssa_bench.store.storage import guard

KINDS = ("submitter", "local", "slurm")
# An owner on another host that has not refreshed its claim for this long is taken for dead.
HEARTBEAT_TIMEOUT_S = float(os.environ.get("SSA_BENCH_CLAIM_STALE_S", "900"))
# The compare-and-swap lock is held for a few file operations; one older than this was left by a
# process killed inside them.
LOCK_STALE_S = 60.0
LOCK_WAIT_S = 30.0

_LIVENESS: dict[str, Callable[[str], bool | None]] = {}


@dataclass(frozen=True)
class Owner:
    kind: str                 # 'submitter' | 'local' | 'slurm'
    host: str
    pid: int
    job_id: str | None
    since: float

    @classmethod
    def this_process(cls, kind: str, job_id: str | None = None) -> "Owner":
        if kind not in KINDS:
            raise ValueError(f"unknown claim owner kind {kind!r}; expected one of {KINDS}")
        return cls(kind, socket.gethostname(), os.getpid(), None if job_id is None else str(job_id),
                   time.time())

    def same_as(self, other: "Owner | None") -> bool:
        """The same owner, whenever it claimed: a SLURM job is its job id (a requeued attempt runs
        on another node with another pid and still owns its run); a process is its host and pid."""
        if other is None or other.kind != self.kind:
            return False
        if self.kind == "slurm":
            return str(self.job_id) == str(other.job_id)
        return (self.host, int(self.pid), self.job_id) == (other.host, int(other.pid), other.job_id)

    def describe(self) -> str:
        if self.kind == "slurm":
            return f"SLURM job {self.job_id}"
        return f"{self.kind} process {self.pid} on {self.host}"

    def to_dict(self) -> dict:
        return asdict(self)


def register_liveness(kind: str, alive: Callable[[str], bool | None]) -> None:
    """``alive(job_id) -> True | False | None`` decides whether a claim of ``kind`` is stale
    (None: unknown, the claim is kept)."""
    _LIVENESS[kind] = alive


# -- reading ------------------------------------------------------------------------------------
def owner_from_dict(data) -> Owner | None:
    """An Owner from claim.json's content, or None when it is not a well-formed claim."""
    if not isinstance(data, dict):
        return None
    kind, host, pid, job_id, since = (data.get(k) for k in ("kind", "host", "pid", "job_id", "since"))
    if kind not in KINDS or not isinstance(host, str) or not host:
        return None
    if isinstance(pid, bool) or not isinstance(pid, int):
        return None
    if job_id is not None and not isinstance(job_id, str):
        return None
    if kind == "slurm" and not job_id:
        return None
    if isinstance(since, bool) or not isinstance(since, (int, float)):
        return None
    return Owner(kind, host, pid, job_id, float(since))


def _read_owner(path: str) -> tuple[Owner | None, bool]:
    """(owner, exists). A claim file that exists but is not a well-formed claim gives (None, True)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(64 * 1024)
    except FileNotFoundError:
        return None, False
    except (IsADirectoryError, PermissionError, OSError):
        return None, True
    try:
        return owner_from_dict(json.loads(raw.decode("utf-8"))), True
    except (UnicodeDecodeError, ValueError):
        return None, True


def holder(path: str) -> Owner | None:
    return _read_owner(path)[0]


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host lives (a failed check counts as alive)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        # EPERM: someone else's live process. Any other failure leaves the owner's state unknown,
        # and breaking a live run's claim would start a second copy of it: keep the claim.
        return True
    except (ValueError, OverflowError):  # not a pid any process can have
        return False
    return True


def is_stale(path: str, owner: Owner | None = None, *, now: float | None = None) -> bool:
    """Whether the claim at ``path`` (held by ``owner``, read if not given) may be broken."""
    now = time.time() if now is None else now
    if owner is None:
        owner, exists = _read_owner(path)
        if not exists:
            return False
    if owner is None:
        # Not a claim this module wrote (claims appear whole, by link): damage. Keep it for a
        # heartbeat timeout in case an unknown writer owns it, then break it.
        return _age(path, now) > HEARTBEAT_TIMEOUT_S
    if owner.kind == "slurm":
        alive = _LIVENESS.get("slurm")
        if alive is None:
            return False
        try:
            return alive(str(owner.job_id)) is False
        except Exception:  # noqa: BLE001 -- a scheduler that cannot be asked is an unknown: keep the claim
            return False
    if owner.host == socket.gethostname():
        return not pid_alive(owner.pid)
    return _age(path, now) > HEARTBEAT_TIMEOUT_S


def _age(path: str, now: float) -> float:
    try:
        return now - os.stat(path).st_mtime
    except OSError:
        return 0.0


# -- writing ------------------------------------------------------------------------------------
def _write_temp(directory: str, stem: str, data: dict) -> str:
    tmp = os.path.join(directory, f".{stem}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            os.write(fd, (json.dumps(data, sort_keys=True) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quiet(tmp)          # a full disk: no half-written temp left behind
        raise
    return tmp


def _link_exclusive(tmp: str, target: str) -> bool:
    """Create ``target`` as a hard link to ``tmp``; False if it exists. NFS may report an error for
    a link that was made (a lost reply to a retried request): the link count tells the truth."""
    try:
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    except OSError as error:
        try:
            if os.stat(tmp).st_nlink == 2:
                return True
        except OSError:
            pass
        if error.errno == errno.EEXIST:
            return False
        raise


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def try_create(path: str, owner: Owner) -> bool:
    """Create the claim if nobody holds it; True when this call created it."""
    directory = os.path.dirname(path)
    tmp = _write_temp(directory, os.path.basename(path), owner.to_dict())
    try:
        made = _link_exclusive(tmp, path)
    finally:
        _unlink_quiet(tmp)
    if made:
        fsync_dir(directory)
    return made


class _Lock:
    """The compare-and-swap lock beside a claim: a file created by link, removed on exit."""

    def __init__(self, claim_path: str, wait_s: float = LOCK_WAIT_S):
        self.path = claim_path[:-len(".json")] + ".lock" if claim_path.endswith(".json") else claim_path + ".lock"
        self.wait_s = wait_s
        self._tmp: str | None = None

    def __enter__(self) -> "_Lock":
        directory = os.path.dirname(self.path)
        deadline = time.monotonic() + self.wait_s
        delay = 0.001
        while True:
            tmp = _write_temp(directory, os.path.basename(self.path), {"host": socket.gethostname(),
                                                                       "pid": os.getpid()})
            try:
                if _link_exclusive(tmp, self.path):
                    self._tmp = tmp
                    return self
            except BaseException:
                _unlink_quiet(tmp)
                raise
            _unlink_quiet(tmp)
            self._break_if_abandoned()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.path} is held for more than {self.wait_s:.0f} s; if no "
                                   f"ssa-bench process is running, delete it")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _break_if_abandoned(self) -> None:
        # Rename away (only one renamer of a given file succeeds), then check it was the old one.
        if _age(self.path, time.time()) <= LOCK_STALE_S:
            return
        aside = f"{self.path}.abandoned-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        _unlink_quiet(aside)

    def __exit__(self, *exc) -> None:
        _unlink_quiet(self.path)
        if self._tmp:
            _unlink_quiet(self._tmp)


def claim(path: str, owner: Owner) -> bool:
    """Claim for ``owner``: True if it now holds the claim (newly, or already held it)."""
    with guard(path):   # a full or read-only file system: one line naming the claim
        return _claim(path, owner)


def _claim(path: str, owner: Owner) -> bool:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    for _ in range(3):
        if try_create(path, owner):
            return True
        current, exists = _read_owner(path)
        if not exists:
            continue                              # released between our link and our read
        if owner.same_as(current):
            return True
        if not is_stale(path, current):
            return False
        with _Lock(path):
            # Compare under the lock: only the breaker that still sees the stale claim removes it;
            # a second breaker arriving later sees the winner's fresh claim and gives up.
            again, exists = _read_owner(path)
            if exists and again == current and is_stale(path, again):
                _unlink_quiet(path)
                fsync_dir(os.path.dirname(path))
                return try_create(path, owner)
            if exists and owner.same_as(again):
                return True
    return False


def transfer(path: str, old: Owner, new: Owner) -> bool:
    """Hand the claim from ``old`` to ``new``; False (nothing changed) unless ``old`` holds it."""
    with guard(path):   # a full or read-only file system: one line naming the claim
        return _transfer(path, old, new)


def _transfer(path: str, old: Owner, new: Owner) -> bool:
    if not os.path.exists(path):
        return False
    with _Lock(path):
        if not old.same_as(holder(path)):
            return False
        tmp = _write_temp(os.path.dirname(path), os.path.basename(path), new.to_dict())
        os.replace(tmp, path)
        fsync_dir(os.path.dirname(path))
        return True


def release(path: str, owner: Owner) -> bool:
    """Remove the claim if ``owner`` holds it; False (nothing changed) otherwise."""
    with guard(path):   # a full or read-only file system: one line naming the claim
        return _release(path, owner)


def _release(path: str, owner: Owner) -> bool:
    if not os.path.exists(path):
        return False
    with _Lock(path):
        if not owner.same_as(holder(path)):
            return False
        _unlink_quiet(path)
        fsync_dir(os.path.dirname(path))
        return True


def heartbeat(path: str, owner: Owner) -> bool:
    """Refresh the claim's mtime (the cross-host liveness signal) if ``owner`` still holds it."""
    if not owner.same_as(holder(path)):
        return False
    try:
        os.utime(path)
    except OSError:
        return False
    return True
