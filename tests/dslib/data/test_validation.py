"""validate / Schema / make_dirty: the validator finds exactly the faults injected, and filter drops exactly them."""

from __future__ import annotations

import numpy as np
import pytest

import dslib
from dslib.data.dataset import Subset
from dslib.data.validation import KINDS, Issue, Schema, ValidationReport, make_dirty, validate

SCHEMA = Schema(shape=(1, 8, 8), dtype="float32", value_range=(0, 1), labels=range(10))


class ListDataset:
    """(input, target) pairs from a list: the smallest dataset validate() accepts."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


def clean_samples(n=200, seed=0, tensors=False):
    rng = np.random.default_rng(seed)
    xs = rng.random((n, 1, 8, 8), dtype=np.float32)  # continuous values: no two samples are equal
    ys = rng.integers(0, 10, n)
    assert len(np.unique(xs.reshape(n, -1), axis=0)) == n
    return [((dslib.from_numpy(x) if tensors else x), int(y)) for x, y in zip(xs, ys)]


def found(report: ValidationReport) -> dict:
    return {k: report.indices(k) for k in KINDS}


def test_a_clean_dataset_has_no_issues_and_keeps_every_index():
    report = validate(ListDataset(clean_samples()), SCHEMA)
    assert report.is_clean and report.issues == []
    assert report.counts == dict.fromkeys(KINDS, 0)
    assert report.clean_indices == list(range(200))


def test_each_kind_of_fault_is_reported_on_exactly_its_sample():
    samples = clean_samples(12)
    x = samples[0][0]
    samples[1] = (np.ones((1, 8, 9), np.float32) * 0.5, 1)  # shape
    samples[2] = (samples[2][0].astype(np.float64), 2)  # dtype
    samples[3][0][0, 0, 0] = 1.5  # range
    samples[4] = (samples[4][0], 10)  # label
    samples[5][0][0, 1, :3] = np.nan  # nan (3 values)
    samples[6][0][0, 2, 2] = -np.inf  # inf
    samples[7] = (x.copy(), samples[0][1])  # duplicate of sample 0 (same label)
    samples[8] = (samples[9][0].copy(), (samples[9][1] + 1) % 10)  # conflicts with sample 9
    report = validate(ListDataset(samples), SCHEMA)
    assert [(i.index, i.kind) for i in report.issues] == [
        (1, "shape"),
        (2, "dtype"),
        (3, "range"),
        (4, "label"),
        (5, "nan"),
        (6, "inf"),
        (7, "duplicate"),
        (8, "label_conflict"),
        (9, "label_conflict"),
    ]
    details = {i.index: i.detail for i in report.issues}
    assert details[1] == "shape (1, 8, 9) != expected (1, 8, 8)"
    assert details[2] == "dtype float64 != expected float32"
    assert details[3].startswith("1 value outside [0, 1]: ") and "max 1.5" in details[3]
    assert details[5] == "3 NaN values"
    assert details[7] == f"exact copy of sample 0 (label {samples[0][1]})"
    assert report.clean_indices == [0, 10, 11]
    assert all(isinstance(i, Issue) for i in report.issues)


def test_nan_and_inf_are_not_also_counted_as_out_of_range():
    x = np.full((1, 8, 8), 0.5, np.float32)
    x[0, 0, :2] = [np.nan, np.inf]
    report = validate(ListDataset([(x, 0)]), SCHEMA)
    assert [i.kind for i in report.issues] == ["nan", "inf"]
    allowed = validate(ListDataset([(x, 0)]), Schema(shape=(1, 8, 8), allow_nan=True, allow_inf=True))
    assert allowed.is_clean


def test_none_in_the_schema_shape_matches_any_size_and_check_duplicates_can_be_off():
    samples = [(np.zeros((1, 8, w), np.float32), 0) for w in (5, 7, 7)]
    assert validate(ListDataset(samples), Schema(shape=(1, 8, None)), check_duplicates=False).is_clean
    report = validate(ListDataset(samples), Schema(shape=(1, 8, None)))
    assert [(i.index, i.kind) for i in report.issues] == [(2, "duplicate")]  # same bytes AND same shape only


def test_integer_images_and_tensor_labels_are_checked():
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 200, (4, 8, 8, 1)).astype(np.uint8)
    samples = [(imgs[i], dslib.tensor(i)) for i in range(4)]
    samples[3] = (imgs[3], dslib.tensor(7))
    report = validate(
        ListDataset(samples), Schema(shape=(8, 8, 1), dtype="uint8", value_range=(0, 199), labels=[0, 1, 2, 3])
    )
    assert [(i.index, i.kind) for i in report.issues] == [(3, "label")]


@pytest.mark.parametrize("tensors", [False, True], ids=["numpy", "tensor"])
def test_validator_finds_exactly_what_make_dirty_injected(tensors):
    base = ListDataset(clean_samples(400, tensors=tensors))
    dirty, truth = make_dirty(base, seed=3, schema=SCHEMA, nan=0.03, label_conflict=0.03)
    assert len(dirty) == 400 + 8 + 12  # duplicate 2% (8) and conflicting copies 3% (12) are appended
    assert isinstance(dirty[0][0], dslib.Tensor) == tensors
    report = validate(dirty, SCHEMA)
    expected = {k: 8 for k in KINDS} | {"nan": 12, "label_conflict": 24}  # a conflict flags both copies
    assert {k: len(v) for k, v in truth.issues.items()} == expected
    assert found(report) == truth.issues  # the same indices, kind by kind: precision = recall = 1
    scores = truth.score(report)
    assert all(s["precision"] == 1.0 and s["recall"] == 1.0 for s in scores.values())
    assert report.clean_indices == sorted(set(range(len(dirty))) - set(truth.bad_indices))


def test_make_dirty_shuffles_and_flags_the_later_copy_of_each_duplicate_pair():
    dirty, truth = make_dirty(ListDataset(clean_samples(300)), seed=0, schema=SCHEMA, duplicate=0.1)
    flagged = truth.issues["duplicate"]
    pairs = [np.flatnonzero(truth.origin == truth.origin[j]).tolist() for j in flagged]
    assert all(len(p) == 2 and p[1] == j for p, j in zip(pairs, flagged))  # the later of the two is flagged
    assert all(np.array_equal(dirty[p[0]][0], dirty[p[1]][0]) for p in pairs)
    assert min(flagged) < 300  # shuffled: the copies are not simply appended at the end


def test_make_dirty_is_deterministic_by_seed():
    base = ListDataset(clean_samples(100))
    d1, t1 = make_dirty(base, seed=5, schema=SCHEMA)
    d2, t2 = make_dirty(base, seed=5, schema=SCHEMA)
    d3, t3 = make_dirty(base, seed=6, schema=SCHEMA)
    assert t1.issues == t2.issues and t1.issues != t3.issues
    assert all(np.array_equal(d1[i][0], d2[i][0], equal_nan=True) and d1[i][1] == d2[i][1] for i in range(len(d1)))


def test_make_dirty_infers_the_schema_the_data_satisfies():
    dirty, truth = make_dirty(ListDataset(clean_samples(100)), seed=0)
    assert truth.schema.shape == (1, 8, 8) and truth.schema.dtype == "float32"
    assert truth.schema.labels == frozenset(range(10))
    assert found(validate(dirty, truth.schema)) == truth.issues


def test_filter_drops_bad_samples_keeps_one_copy_of_duplicates_and_no_conflicting_copy():
    samples = clean_samples(6)
    samples[3] = (samples[0][0].copy(), samples[0][1])  # duplicate of 0: keep 0, drop 3
    samples[4] = (samples[1][0].copy(), (samples[1][1] + 1) % 10)  # conflicts with 1: drop both
    samples[5] = (samples[5][0], 42)  # bad label
    ds = ListDataset(samples)
    report = validate(ds, SCHEMA)
    kept = report.filter(ds)
    assert isinstance(kept, Subset) and list(kept.indices) == [0, 2]
    assert len(kept) == 2 and np.array_equal(kept[1][0], samples[2][0])
    assert validate(kept, SCHEMA).is_clean


def test_filter_refuses_a_dataset_of_another_length():
    report = validate(ListDataset(clean_samples(5)), SCHEMA)
    with pytest.raises(ValueError, match="report is for 5 samples but the dataset has 4"):
        report.filter(ListDataset(clean_samples(4)))


def test_summary_is_a_table_with_every_kind_and_its_count():
    dirty, truth = make_dirty(ListDataset(clean_samples(200)), seed=0, schema=SCHEMA)
    text = validate(dirty, SCHEMA).summary()
    assert text.splitlines()[0].startswith(f"Validated {len(dirty)} samples: ")
    for kind, idx in truth.issues.items():
        row = next(line for line in text.splitlines() if line.startswith(kind + " "))
        assert row.split()[1] == str(len(idx))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"shape": 8}, TypeError, r"shape must be a tuple of sizes like \(1, 8, 8\), got 8"),
        ({"shape": (1, -8, 8)}, ValueError, "shape entries must be non-negative ints or None"),
        ({"dtype": "float33"}, TypeError, "dtype 'float33' is not a dtype"),
        ({"value_range": (1, 0)}, ValueError, r"low <= high.*\(1, 0\)"),
        ({"value_range": (0,)}, TypeError, r"value_range must be a pair \(low, high\)"),
        ({"value_range": ("0", 1)}, TypeError, "value_range must hold two numbers"),
        ({"labels": []}, ValueError, "labels is empty"),
        ({"labels": "0123"}, TypeError, "labels must be an iterable of targets"),
        ({"allow_nan": 1}, TypeError, "allow_nan must be True or False"),
    ],
)
def test_bad_schema_arguments_raise_errors_naming_the_field(kwargs, error, message):
    with pytest.raises(error, match=message):
        Schema(**kwargs)


def test_validate_rejects_what_is_not_a_schema_or_a_pair_dataset():
    with pytest.raises(TypeError, match="schema must be a Schema"):
        validate(ListDataset(clean_samples(2)), {"shape": (1, 8, 8)})
    with pytest.raises(TypeError, match="dataset must support len"):
        validate(42, SCHEMA)
    with pytest.raises(TypeError, match=r"dataset\[0\] must be a pair \(input, target\), got tuple of length 3"):
        validate(ListDataset([(np.zeros((1, 8, 8)), 0, 1)]), SCHEMA)


def test_make_dirty_refuses_impossible_requests():
    base = ListDataset(clean_samples(20))
    with pytest.raises(ValueError, match=r"nan must be a fraction in \[0, 1\], got 1.5"):
        make_dirty(base, nan=1.5)
    with pytest.raises(ValueError, match="the fractions ask for .* but the dataset has only 20"):
        make_dirty(base, nan=0.5, inf=0.5, range=0.5)
    uint8 = ListDataset([(np.full((2, 2), i, np.uint8), 0) for i in range(10)])
    with pytest.raises(ValueError, match="nan>0 needs floating-point inputs, got uint8"):
        make_dirty(uint8, schema=Schema(shape=(2, 2), dtype="uint8", value_range=(0, 100), labels=[0, 1]))
    dirty_base = ListDataset(clean_samples(20) + [clean_samples(20)[0]])
    with pytest.raises(ValueError, match="source dataset is not clean"):
        make_dirty(dirty_base, schema=SCHEMA)


def test_digits_is_clean_and_its_dirty_copy_is_caught_exactly():
    """The real data set of lab 03: dslib Tensor inputs, 1,437 training digits."""
    from dslib.data.datasets import Digits

    digits = Digits()
    assert validate(digits, SCHEMA).is_clean
    dirty, truth = make_dirty(digits, seed=0, schema=SCHEMA)
    report = validate(dirty, SCHEMA)
    assert found(report) == truth.issues and sum(map(len, truth.issues.values())) > 0
    assert len(report.filter(dirty)) == len(dirty) - len(truth.bad_indices)
