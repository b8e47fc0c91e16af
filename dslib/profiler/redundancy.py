"""The redundancy finder: forward ops that recompute a value already computed, and needless transposes / copies.

    with dslib.profiler.profile() as prof:
        model(x)
    report = prof.find_redundancy()
    print(report)                      # what is redundant, where, and what it costs
    report.matmul_share                # share of the forward matrix work (FLOPs) that is redundant

(a) Recomputation, found by value numbering (common-subexpression elimination's bookkeeping, e.g. Muchnick,
Advanced Compiler Design, Sec. 12.4): every array a recorded op reads gets a value number; an op's key is its
class, the value number and version (in-place change counter) of each tensor input, and its non-tensor
arguments. An op whose key was seen before computes a value the profile already had, so it is redundant, and its
output gets the earlier output's value number: q @ k.transpose(-2, -1) written twice is caught although each
transpose makes a new tensor. Dropout, which draws random numbers, is never redundant.
(b) Needless transposes and copies: a permute with identity axes; a transpose undone by its inverse (x.mT.mT); a
cast to the dtype a tensor already has, a move to the device it is on (dslib's Tensor.to and .contiguous()
already return the tensor itself, so these come only from direct op calls); and a copy (clone) of a contiguous
tensor when, up to the end of the profile, neither the copy nor the original was changed in place, the only
thing a copy of contiguous data protects against. Backward ops are not analysed.
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass, field

from ..tensor import Tensor

_RANDOM = {"Dropout"}  # ops whose output is not a function of their inputs
_NEEDLESS_CANDIDATES = {"Permute", "Cast", "ToDevice", "Clone"}


class ValueTracker:
    """Assigns value numbers while the profile records, and notes duplicates and needless ops on the events."""

    def __init__(self):
        self._ids = itertools.count()
        self._arrays: dict = {}  # id(array) -> (weakref to it, value number)
        self._first: dict = {}  # op key -> (index of the first event with it, its output's value number)
        self._permutes: dict = {}  # value number -> (event index, axes) of the permute that made it
        self.clones: list = []  # (event, original's version cell and version, copy's version cell and version)

    def value_of(self, array) -> int:
        entry = self._arrays.get(id(array))
        if entry is not None and entry[0]() is array:
            return entry[1]
        vn = next(self._ids)
        self._bind(array, vn)
        return vn

    def _bind(self, array, vn: int):
        # a dead array's entry stays (a dead weakref and an int) until its id is reused: value_of checks it
        try:
            self._arrays[id(array)] = (weakref.ref(array), vn)
        except TypeError:  # not weak-referenceable: the value can't be followed
            pass

    def observe(self, ev, index: int, cls, args, kwargs, result):
        name = cls.__name__
        parts, fresh = [cls], True
        for a in args:
            if isinstance(a, Tensor):
                parts.append((self.value_of(a._data), a._vc[0]))
                fresh = fresh and result._data is not a._data
            else:
                parts.append(_freeze(a))
        if kwargs:
            parts.append(tuple(sorted((k, _freeze(v)) for k, v in kwargs.items())))
        key = tuple(parts)
        try:
            first = None if name in _RANDOM else self._first.get(key)
        except TypeError:  # an unhashable argument: no key
            first, key = None, None
        if first is None:
            out_vn = next(self._ids)
            if key is not None:
                self._first[key] = (index, out_vn)
        else:
            ev.dup_of, out_vn = first
        if fresh:  # an op that hands back its input array leaves that array's value number alone
            self._bind(result._data, out_vn)
        if name in _NEEDLESS_CANDIDATES:
            ev.needless = self._needless(ev, index, name, args, parts, result, out_vn)

    def _needless(self, ev, index, name, args, parts, result, out_vn):
        x = args[0] if args else None
        if name == "Permute":
            axes = tuple(args[1])
            self._permutes[out_vn] = (index, axes)
            if axes == tuple(range(len(axes))):
                return "permute/transpose with identity axes: a no-op"
            prev = self._permutes.get(parts[1][0])
            if prev is not None and all(prev[1][a] == i for i, a in enumerate(axes)):
                return f"undoes the transpose of event {prev[0]}: the pair gives back the original tensor"
        elif name == "Cast" and x.dtype is args[1]:
            return f"cast to {args[1]}, the dtype it already has"
        elif name == "ToDevice" and x._backend is args[1]:
            return f"move to {x.device}, the device it is already on"
        elif name == "Clone" and _contiguous(x._data):
            self.clones.append((ev, x._vc, x._vc[0], result._vc, result._vc[0]))
        return None


def _freeze(v):
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, *(_freeze(e) for e in v))
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(e)) for k, e in v.items()))
    if v is None or isinstance(v, (bool, int, float, complex, str, bytes, slice)):
        return (type(v).__name__, v) if not isinstance(v, slice) else ("slice", v.start, v.stop, v.step)
    if hasattr(v, "shape"):  # a raw array or Tensor in an argument: the same object only (== is elementwise)
        return ("id", id(v))
    try:
        hash(v)
        return v  # dtypes, backends and other hashable objects compare by value or identity
    except TypeError:
        return ("id", id(v))


def _contiguous(array) -> bool:
    flags = getattr(array, "flags", None)
    return bool(flags.c_contiguous) if flags is not None else bool(array.is_contiguous())


@dataclass
class RedundancyReport:
    """What find() found. Times in ns; FLOPs count multiply-adds as 2; "forward" = recorded forward ops only."""

    duplicates: list = field(default_factory=list)  # (event index, index of the event it repeats)
    needless: list = field(default_factory=list)  # (event index, reason)
    events: list = field(default_factory=list, repr=False)
    forward_time_ns: int = 0
    wasted_time_ns: int = 0  # duplicates + needless ops
    forward_flops: int = 0
    wasted_flops: int = 0
    matmul_flops: int = 0  # FLOPs of the forward matmul / linear / conv2d / einsum ops
    wasted_matmul_flops: int = 0

    @property
    def matmul_share(self) -> float:
        """Share of the forward matrix work (FLOPs) that recomputes a value already computed."""
        return self.wasted_matmul_flops / self.matmul_flops if self.matmul_flops else 0.0

    def by_site(self) -> list:
        """(op, module, what, count, time ns, FLOPs) per place, most time first."""
        sites: dict = {}
        for i, _ in self.duplicates:
            self._add(sites, i, "recomputes a value computed before")
        for i, reason in self.needless:
            self._add(sites, i, reason)
        return sorted(((*k, *v) for k, v in sites.items()), key=lambda r: -r[4])

    def _add(self, sites, i, what):
        ev = self.events[i]
        row = sites.setdefault((ev.name, ev.module, what), [0, 0, 0])
        row[0] += 1
        row[1] += ev.dur
        row[2] += ev.flops

    def __str__(self) -> str:
        lines = [
            f"redundant forward work: {len(self.duplicates)} recomputed ops, {len(self.needless)} needless "
            f"transposes/copies; {self.wasted_time_ns / 1e6:.3f} ms of {self.forward_time_ns / 1e6:.3f} ms forward op "
            f"time, {self.wasted_flops:,} of {self.forward_flops:,} FLOPs; matrix work redundant: "
            f"{100 * self.matmul_share:.1f}% ({self.wasted_matmul_flops:,} of {self.matmul_flops:,} FLOPs)"
        ]
        for op, module, what, n, ns, flops in self.by_site():
            lines.append(f"  {op} in {module or '(no module)'}: {what} x{n}, {ns / 1e3:.1f} us, {flops:,} FLOPs")
        return "\n".join(lines)


def find(events, tracker: ValueTracker) -> RedundancyReport:
    report = RedundancyReport(events=events)
    for i, ev in enumerate(events):
        if ev.cat != "op":
            continue
        report.forward_time_ns += ev.dur
        report.forward_flops += ev.flops
        report.matmul_flops += ev.flops if ev.matmul else 0
        if ev.dup_of is not None:
            report.duplicates.append((i, ev.dup_of))
        elif ev.needless is not None:
            report.needless.append((i, ev.needless))
        else:
            continue
        report.wasted_time_ns += ev.dur
        report.wasted_flops += ev.flops
        report.wasted_matmul_flops += ev.flops if ev.matmul else 0
    index = {id(ev): i for i, ev in enumerate(events)}
    for ev, src_vc, src_v, out_vc, out_v in tracker.clones:
        if src_vc[0] == src_v and out_vc[0] == out_v and ev.dup_of is None:
            report.needless.append((index[id(ev)], "copy of a contiguous tensor that neither it nor its copy changes"))
            report.wasted_time_ns += ev.dur
    report.needless.sort()
    return report
