"""Structural validation of a dataset: check every sample against a Schema before training on it.

    from dslib.data.validation import Schema, validate, make_dirty
    from dslib.data.datasets import Digits

    schema = Schema(shape=(1, 8, 8), dtype="float32", value_range=(0, 1), labels=range(10))
    report = validate(Digits(), schema)
    print(report.summary())
    clean = report.filter(Digits())  # a Subset without the bad samples

    dirty, truth = make_dirty(Digits(), seed=0, schema=schema)  # faults injected on purpose
    print(truth.score(validate(dirty, schema)))  # precision and recall per kind of fault

A sample is `dataset[i] == (input, target)`; the input is a numpy array or a dslib Tensor (any device),
the target a Python/numpy number or a one-element Tensor. Every sample is read once and checked for:

- "shape", "dtype": the input's shape (None in the schema matches any size) and dtype differ from the schema;
- "nan", "inf": NaN / +-Inf values (unless allow_nan / allow_inf);
- "range": finite values outside schema.value_range (NaN and Inf are reported by their own kinds only);
- "label": the target is not in schema.labels;
- "duplicate": the input is byte-for-byte a copy of an earlier sample's input (same dtype and shape too)
  with the same target: every copy but the first is flagged, so filtering keeps one;
- "label_conflict": byte-identical inputs with different targets: every copy is flagged, because which
  target is right cannot be told from the data.

Duplicates are found by hashing each input's bytes (BLAKE2b, 128 bits), so the check is one pass and
O(N) memory in digests, not images. "Exact" means exact: -0.0 and 0.0, or two NaN payloads, differ.
(The idea of validating data against a declared schema before it reaches a model follows TFX Data
Validation, Breck et al. 2019, "Data Validation for Machine Learning".)
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .. import dtypes
from ..creation import from_numpy
from ..tensor import Tensor
from .dataset import Dataset, Subset

KINDS = ("shape", "dtype", "range", "label", "nan", "inf", "duplicate", "label_conflict")


class Issue(NamedTuple):
    index: int  # the sample's index in the dataset
    kind: str  # one of KINDS
    detail: str  # what exactly is wrong, for a human


@dataclass
class Schema:
    """What every sample of a dataset must look like. A field left as None is not checked."""

    shape: tuple | None = None  # the input's shape, e.g. (1, 8, 8); a None entry matches any size
    dtype: object = None  # "float32", np.float32, dslib.float32, ...
    value_range: tuple | None = None  # (low, high), inclusive, for the input's finite values
    labels: Iterable | None = None  # the allowed targets, e.g. range(10)
    allow_nan: bool = False  # NaN values in the input are fine
    allow_inf: bool = False  # +-Inf values in the input are fine

    def __post_init__(self):
        if self.shape is not None:
            if not isinstance(self.shape, (tuple, list)):
                raise TypeError(f"Schema: shape must be a tuple of sizes like (1, 8, 8), got {self.shape!r}")
            for s in self.shape:
                if s is not None and (not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 0):
                    raise ValueError(
                        f"Schema: shape entries must be non-negative ints or None (any size), got {s!r} in {self.shape!r}"
                    )
            self.shape = tuple(None if s is None else int(s) for s in self.shape)
        if self.dtype is not None:
            try:
                self.dtype = dtypes.get(self.dtype).name
            except TypeError as e:
                raise TypeError(f"Schema: dtype {self.dtype!r} is not a dtype: {e}") from None
        if self.value_range is not None:
            vr = self.value_range
            if not isinstance(vr, (tuple, list)) or len(vr) != 2:
                raise TypeError(f"Schema: value_range must be a pair (low, high), got {vr!r}")
            if not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in vr):
                raise TypeError(f"Schema: value_range must hold two numbers, got {vr!r}")
            low, high = float(vr[0]), float(vr[1])
            if np.isnan(low) or np.isnan(high) or low > high:
                raise ValueError(f"Schema: value_range must satisfy low <= high (no NaN), got {vr!r}")
            self.value_range = (low, high)
        if self.labels is not None:
            if isinstance(self.labels, (str, bytes)) or not isinstance(self.labels, Iterable):
                raise TypeError(f"Schema: labels must be an iterable of targets like range(10), got {self.labels!r}")
            labels = frozenset(_label_key(v) for v in self.labels)
            if not labels:
                raise ValueError("Schema: labels is empty, so every sample would fail; pass e.g. labels=range(10)")
            self.labels = labels
        for name in ("allow_nan", "allow_inf"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"Schema: {name} must be True or False, got {getattr(self, name)!r}")


@dataclass
class ValidationReport:
    """What validate() found. `issues` is sorted by index, then by kind (in KINDS order)."""

    num_samples: int
    issues: list = field(default_factory=list)  # list of Issue(index, kind, detail)

    @property
    def counts(self) -> dict:
        """Number of samples flagged, per kind (every kind present, zeros included)."""
        counts = dict.fromkeys(KINDS, 0)
        for issue in self.issues:
            counts[issue.kind] += 1
        return counts

    @property
    def bad_indices(self) -> list:
        return sorted({issue.index for issue in self.issues})

    @property
    def clean_indices(self) -> list:
        """Indices with no issue: every valid sample, and the first copy of each exact duplicate."""
        bad = set(self.bad_indices)
        return [i for i in range(self.num_samples) if i not in bad]

    @property
    def is_clean(self) -> bool:
        return not self.issues

    def indices(self, kind: str) -> list:
        """The indices flagged with one kind of issue."""
        if kind not in KINDS:
            raise ValueError(f"ValidationReport.indices: kind must be one of {KINDS}, got {kind!r}")
        return [issue.index for issue in self.issues if issue.kind == kind]

    def filter(self, dataset) -> Subset:
        """The dataset without its bad samples (one copy of each exact duplicate kept, conflicting copies dropped)."""
        if len(dataset) != self.num_samples:
            raise ValueError(
                f"ValidationReport.filter: the report is for {self.num_samples} samples but the dataset has "
                f"{len(dataset)}; filter the dataset the report was made from"
            )
        return Subset(dataset, self.clean_indices)

    def summary(self, examples: int = 5) -> str:
        """A printable table: one row per kind with its count, the first few indices and one example."""
        bad = len(self.bad_indices)
        lines = [
            f"Validated {self.num_samples} samples: {self.num_samples - bad} clean, {bad} with issues "
            f"({len(self.issues)} issues)",
            f"{'kind':<15} {'count':>6}  {'first indices':<28} example",
        ]
        for kind, count in self.counts.items():
            first = [issue for issue in self.issues if issue.kind == kind]
            shown = ", ".join(str(i.index) for i in first[:examples]) + (" ..." if count > examples else "")
            lines.append(f"{kind:<15} {count:>6}  {shown:<28} {first[0].detail if first else ''}".rstrip())
        return "\n".join(lines)

    def __repr__(self) -> str:
        nonzero = {k: v for k, v in self.counts.items() if v}
        return f"ValidationReport(num_samples={self.num_samples}, clean={len(self.clean_indices)}, counts={nonzero})"


def validate(dataset, schema: Schema, check_duplicates: bool = True) -> ValidationReport:
    """Check every sample of `dataset` against `schema`; see the module docstring for the kinds of issue."""
    if not isinstance(schema, Schema):
        raise TypeError(f"validate: schema must be a Schema(...), got {type(schema).__name__}")
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise TypeError(f"validate: dataset must support len() and indexing, got {type(dataset).__name__}")
    issues = []
    copies = {}  # digest of the input -> [(index, target), ...]
    for i in range(len(dataset)):
        x, y = _read_sample(dataset, i)
        arr, dtype_name = _as_array(x)
        target = _label_key(y)
        issues += _check_sample(i, arr, dtype_name, target, schema)
        if check_duplicates:
            copies.setdefault(_digest(arr), []).append((i, target))
    for group in copies.values():
        if len(group) > 1:
            issues += _duplicate_issues(group)
    order = {k: n for n, k in enumerate(KINDS)}
    issues.sort(key=lambda issue: (issue.index, order[issue.kind]))
    return ValidationReport(num_samples=len(dataset), issues=issues)


def _read_sample(dataset, i):
    try:
        sample = dataset[i]
    except Exception as e:
        raise RuntimeError(f"validate: dataset[{i}] raised {type(e).__name__}: {e}") from e
    if not isinstance(sample, (tuple, list)) or len(sample) != 2:
        raise TypeError(
            f"validate: dataset[{i}] must be a pair (input, target), got {type(sample).__name__}"
            + (f" of length {len(sample)}" if isinstance(sample, (tuple, list)) else "")
        )
    return sample


def _as_array(x):
    """(numpy array, dtype name) of an input; bfloat16 tensors are widened to float32 (exactly) for the checks."""
    if isinstance(x, Tensor):
        x = x.detach()
        name = x.dtype.name
        if x.dtype is dtypes.bfloat16:
            x = x.to(dtype=dtypes.float32)
        return np.asarray(x.numpy()), name
    arr = np.asarray(x)
    return arr, arr.dtype.name


def _label_key(y):
    """A hashable, comparable form of a target: a Python scalar, or a tuple for a multi-element target."""
    if isinstance(y, Tensor):
        y = y.detach().numpy()
    if isinstance(y, np.ndarray):
        return y.item() if y.size == 1 else tuple(y.ravel().tolist())
    if isinstance(y, np.generic):
        return y.item()
    if isinstance(y, list):
        return tuple(y)
    return y


def _check_sample(i, arr, dtype_name, target, schema):
    out = []
    if schema.shape is not None and (
        arr.ndim != len(schema.shape) or any(s is not None and s != a for s, a in zip(schema.shape, arr.shape))
    ):
        out.append(Issue(i, "shape", f"shape {arr.shape} != expected {schema.shape}"))
    if schema.dtype is not None and dtype_name != schema.dtype:
        out.append(Issue(i, "dtype", f"dtype {dtype_name} != expected {schema.dtype}"))
    if arr.dtype.kind in "fc":
        nans = int(np.isnan(arr).sum())
        infs = int(np.isinf(arr).sum())
        if nans and not schema.allow_nan:
            out.append(Issue(i, "nan", f"{nans} NaN value{'s' * (nans > 1)}"))
        if infs and not schema.allow_inf:
            out.append(Issue(i, "inf", f"{infs} infinite value{'s' * (infs > 1)}"))
        finite = arr[np.isfinite(arr)] if (nans or infs) else arr
    elif arr.dtype.kind in "biu":
        finite = arr
    else:
        finite = None
        out.append(Issue(i, "dtype", f"input of non-numeric dtype {arr.dtype}"))
    if schema.value_range is not None and finite is not None and finite.size:
        low, high = schema.value_range
        outside = int(((finite < low) | (finite > high)).sum())
        if outside:
            out.append(
                Issue(
                    i,
                    "range",
                    f"{outside} value{'s' * (outside > 1)} outside [{low:g}, {high:g}]: "
                    f"min {finite.min():g}, max {finite.max():g}",
                )
            )
    if schema.labels is not None and not _in_labels(target, schema.labels):
        out.append(Issue(i, "label", f"label {target!r} is not one of the schema's labels"))
    return out


def _in_labels(target, labels) -> bool:
    try:
        return target in labels
    except TypeError:  # unhashable target
        return False


def _digest(arr: np.ndarray) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.digest()


def _duplicate_issues(group):
    """Issues for one group of byte-identical inputs, [(index, target), ...] in index order."""
    targets = {_safe_key(t) for _, t in group}
    first_index, first_target = group[0]
    if len(targets) == 1:
        return [
            Issue(i, "duplicate", f"exact copy of sample {first_index} (label {first_target!r})") for i, _ in group[1:]
        ]
    labels = ", ".join(f"{i}: {t!r}" for i, t in group)
    return [Issue(i, "label_conflict", f"same input, different labels {{{labels}}}") for i, _ in group]


def _safe_key(t):
    try:
        hash(t)
        return t
    except TypeError:
        return repr(t)


# --------------------------------------------------------------------------------------------------
# make_dirty: a deliberately dirty copy with the ground truth of what was injected
# --------------------------------------------------------------------------------------------------

IN_PLACE = ("nan", "inf", "range", "shape", "dtype", "label")  # faults that modify a sample
APPENDED = ("duplicate", "label_conflict")  # faults that add a copy of a sample


class DirtyDataset(Dataset):
    """In-memory samples returned as (input, target); inputs as numpy arrays, or as dslib Tensors (`as_tensor`)."""

    def __init__(self, inputs: list, targets: list, as_tensor: bool):
        self.inputs = inputs
        self.targets = targets
        self.as_tensor = as_tensor

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index):
        x = self.inputs[index]
        return (from_numpy(x.copy()) if self.as_tensor else x.copy()), self.targets[index]


@dataclass
class DirtyTruth:
    """The ground truth of make_dirty: what a perfect validator reports on the dirty dataset."""

    issues: dict  # kind -> sorted indices (in the dirty dataset) that must be flagged with that kind
    schema: Schema  # the schema the faults violate (the one passed in, or the one inferred)
    origin: np.ndarray  # origin[j] = the index in the source dataset that dirty sample j was made from

    @property
    def bad_indices(self) -> list:
        return sorted({i for idx in self.issues.values() for i in idx})

    def score(self, report: ValidationReport) -> dict:
        """Precision and recall of a report against this truth, per kind and over all (index, kind) pairs."""
        if not isinstance(report, ValidationReport):
            raise TypeError(f"DirtyTruth.score: report must be a ValidationReport, got {type(report).__name__}")
        found_all = {(i.index, i.kind) for i in report.issues}
        true_all = {(i, k) for k, idx in self.issues.items() for i in idx}
        scores = {k: _pr({i for i, kk in found_all if kk == k}, set(self.issues.get(k, []))) for k in KINDS}
        scores["all"] = _pr(found_all, true_all)
        return scores


def _pr(found: set, true: set) -> dict:
    hit = len(found & true)
    return {
        "precision": hit / len(found) if found else 1.0,
        "recall": hit / len(true) if true else 1.0,
        "found": len(found),
        "true": len(true),
    }


def make_dirty(
    dataset,
    seed: int = 0,
    *,
    nan: float = 0.02,
    inf: float = 0.02,
    range: float = 0.02,  # noqa: A002 - named after the kind of fault it injects
    shape: float = 0.02,
    dtype: float = 0.02,
    label: float = 0.02,
    duplicate: float = 0.02,
    label_conflict: float = 0.02,
    schema: Schema | None = None,
    shuffle: bool = True,
):
    """A deliberately dirty copy of a clean dataset, and the DirtyTruth of every fault injected.

    Each fraction (of len(dataset)) says how many samples get that fault (at least one when the fraction is
    positive). In-place faults hit distinct samples: `nan` (1-3 values set to NaN), `inf` (one value +-Inf),
    `range` (one value moved half the range's width outside it), `shape` (one column of the lowest value
    appended along the last axis), `dtype` (cast to float64, or float32 when already float64), `label` (a
    label outside the schema's). `duplicate` and `label_conflict` append copies of other, untouched samples:
    with the same label, or with a different valid label. With `shuffle`, the samples are then permuted, so a
    copy may come before its original. The schema defaults to the one the data satisfies (shape, dtype and
    labels of the samples, their min-max value range). The source must validate clean against the schema,
    or the truth would miss its own faults: filter it first (`validate(ds, schema).filter(ds)`).
    """
    fractions = {
        "nan": nan,
        "inf": inf,
        "range": range,
        "shape": shape,
        "dtype": dtype,
        "label": label,
        "duplicate": duplicate,
        "label_conflict": label_conflict,
    }
    for name, frac in fractions.items():
        if not isinstance(frac, (int, float)) or isinstance(frac, bool) or not 0.0 <= frac <= 1.0:
            raise ValueError(f"make_dirty: {name} must be a fraction in [0, 1], got {frac!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"make_dirty: seed must be a non-negative integer, got {seed!r}")
    n = len(dataset)
    counts = {k: (max(1, round(f * n)) if f > 0 else 0) for k, f in fractions.items()}
    if sum(counts.values()) > n:
        raise ValueError(
            f"make_dirty: the fractions ask for {sum(counts.values())} faulty samples but the dataset has only {n}; "
            "lower them"
        )
    inputs, targets, as_tensor = [], [], False
    for i in builtins.range(n):
        x, y = _read_sample(dataset, i)
        as_tensor = as_tensor or isinstance(x, Tensor)
        inputs.append(_as_array(x)[0].copy())
        targets.append(_label_key(y))
    if schema is None:
        schema = _infer_schema(inputs, targets)
    elif not isinstance(schema, Schema):
        raise TypeError(f"make_dirty: schema must be a Schema(...) or None, got {type(schema).__name__}")
    base = validate(DirtyDataset(inputs, targets, as_tensor=False), schema)
    if not base.is_clean:
        raise ValueError(
            f"make_dirty: the source dataset is not clean ({base!r}), so the ground truth would be wrong; "
            "start from validate(dataset, schema).filter(dataset)"
        )
    _check_injectable(counts, inputs[0] if inputs else np.zeros(0), schema)

    rng = np.random.default_rng(seed)
    chosen = rng.permutation(n)  # disjoint picks: in-place faults first, then the sources of the copies
    picks, start = {}, 0
    for kind in IN_PLACE + APPENDED:
        picks[kind] = chosen[start : start + counts[kind]]
        start += counts[kind]
    origin = list(builtins.range(n))
    pairs = []  # (source index, copy index, kind) before shuffling
    for kind in IN_PLACE:
        for i in picks[kind]:
            inputs[i], targets[i] = _inject(kind, inputs[i], targets[i], schema, rng)
    for kind in APPENDED:
        for i in picks[kind]:
            y = targets[i]
            if kind == "label_conflict":
                others = sorted(schema.labels - {y}, key=repr)
                y = others[rng.integers(len(others))]
            inputs.append(inputs[i].copy())
            targets.append(y)
            origin.append(int(i))
            pairs.append((int(i), len(inputs) - 1, kind))

    perm = rng.permutation(len(inputs)) if shuffle else np.arange(len(inputs))
    new_pos = np.empty(len(inputs), dtype=np.int64)
    new_pos[perm] = np.arange(len(inputs))
    truth = {k: [] for k in KINDS}
    for kind in IN_PLACE:
        truth[kind] = sorted(int(new_pos[i]) for i in picks[kind])
    for src, copy, kind in pairs:
        a, b = int(new_pos[src]), int(new_pos[copy])
        truth[kind] += [a, b] if kind == "label_conflict" else [max(a, b)]
    truth = {k: sorted(v) for k, v in truth.items()}
    dirty = DirtyDataset([inputs[p] for p in perm], [targets[p] for p in perm], as_tensor=as_tensor)
    return dirty, DirtyTruth(issues=truth, schema=schema, origin=np.asarray(origin)[perm])


def _infer_schema(inputs, targets) -> Schema:
    if not inputs:
        raise ValueError("make_dirty: the dataset is empty")
    lows = [float(a.min()) for a in inputs if a.size]
    highs = [float(a.max()) for a in inputs if a.size]
    return Schema(
        shape=inputs[0].shape,
        dtype=inputs[0].dtype.name,
        value_range=(min(lows), max(highs)),
        labels=sorted(set(targets), key=repr),
    )


def _check_injectable(counts, example, schema):
    kind_f = example.dtype.kind == "f"
    for fault in ("nan", "inf"):
        if counts[fault] and not kind_f:
            raise ValueError(f"make_dirty: {fault}>0 needs floating-point inputs, got {example.dtype}; set {fault}=0")
    if counts["range"]:
        if schema.value_range is None:
            raise ValueError("make_dirty: range>0 needs a schema with a value_range; set range=0 or give one")
        if not kind_f:
            low, high = schema.value_range
            info = np.iinfo(example.dtype)
            if low <= info.min and high >= info.max:
                raise ValueError(
                    f"make_dirty: value_range {schema.value_range} covers every {example.dtype} value, so no value can "
                    "be out of range; set range=0"
                )
    for fault, name in (("shape", "shape"), ("dtype", "dtype"), ("label", "labels")):
        if counts[fault] and getattr(schema, name) is None:
            raise ValueError(f"make_dirty: {fault}>0 needs a schema with {name}; set {fault}=0 or give {name}")
    for fault in ("nan", "inf"):
        if counts[fault] and getattr(schema, f"allow_{fault}"):
            raise ValueError(f"make_dirty: {fault}>0 but the schema has allow_{fault}=True; set {fault}=0")
    if counts["label_conflict"] and (schema.labels is None or len(schema.labels) < 2):
        raise ValueError("make_dirty: label_conflict>0 needs a schema with at least two labels")
    if counts["shape"] and example.ndim == 0:
        raise ValueError("make_dirty: shape>0 needs inputs with at least one dimension")


def _inject(kind, x, y, schema, rng):
    """One fault of `kind` in the sample (x, y); returns the new (x, y)."""
    x = x.copy()
    flat = x.reshape(-1)  # a view of the copy
    if kind == "nan":
        flat[rng.choice(flat.size, size=min(flat.size, int(rng.integers(1, 4))), replace=False)] = np.nan
    elif kind == "inf":
        flat[rng.integers(flat.size)] = np.inf if rng.random() < 0.5 else -np.inf
    elif kind == "range":
        low, high = schema.value_range
        width = max(high - low, 1.0)
        if x.dtype.kind == "f":
            value = high + width / 2 if rng.random() < 0.5 else low - width / 2
        else:
            info = np.iinfo(x.dtype)
            above, below = min(high + width / 2, info.max), max(low - width / 2, info.min)
            value = above if above > high and (rng.random() < 0.5 or below >= low) else below
        flat[rng.integers(flat.size)] = value
    elif kind == "shape":
        low = schema.value_range[0] if schema.value_range is not None else 0
        pad = np.full(x.shape[:-1] + (1,), low, dtype=x.dtype)
        x = np.concatenate([x, pad], axis=-1)
    elif kind == "dtype":
        x = x.astype(np.float32 if x.dtype == np.float64 else np.float64)
    elif kind == "label":
        numeric = [v for v in schema.labels if isinstance(v, (int, float)) and not isinstance(v, bool)]
        y = (max(numeric) + 1 if rng.random() < 0.5 else min(numeric) - 1) if numeric else f"<not a label: {y!r}>"
    return x, y
