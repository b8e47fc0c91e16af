"""Counters of the caching allocator and `summary()`, its table in the style of torch.cuda.memory_summary.

The pool calls `on_alloc` / `on_free` / `on_map` / `on_unmap` under its lock; `as_dict()` is what
`dslib.memory.memory_stats()` returns. Sizes are bytes. "allocated" counts whole blocks (rounded sizes,
as PyTorch's allocated_bytes); "requested" counts the bytes the callers asked for; "reserved" counts
the mapped pages of the pool's segments (address space reserved but never touched is not memory).
Fragmentation is 1 - peak allocated / peak reserved: the share of the memory the pool held at its
highest that no live block used when live blocks were at their highest (0 for a perfect allocator).
Tests: .venv/bin/pytest tests/dslib/memory -q
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Stats:
    allocated: int = 0  # bytes in blocks handed out and not yet freed
    requested: int = 0  # bytes the callers asked for (allocated minus rounding and unsplit slack)
    reserved: int = 0  # bytes in segments (cached or in use)
    peak_allocated: int = 0
    peak_reserved: int = 0
    num_allocs: int = 0  # every allocation served by the pool
    num_cache_hits: int = 0  # allocations served from a cached free block, without a new segment
    num_frees: int = 0
    num_segments: int = 0  # address ranges reserved (one per pool unless one fills up)
    num_pages_mapped: int = 0  # pages given memory (the cache misses' cost)
    num_pages_unmapped: int = 0  # pages handed back (empty_cache, OOM retry)
    num_alloc_retries: int = 0  # times mapping past the limit emptied the cache and retried
    num_ooms: int = 0  # MemoryErrors raised

    def on_alloc(self, size: int, requested: int, hit: bool) -> None:
        self.allocated += size
        self.requested += requested
        self.peak_allocated = max(self.peak_allocated, self.allocated)
        self.num_allocs += 1
        self.num_cache_hits += hit

    def on_free(self, size: int, requested: int) -> None:
        self.allocated -= size
        self.requested -= requested
        self.num_frees += 1

    def on_map(self, nbytes: int, page: int) -> None:
        self.reserved += nbytes
        self.num_pages_mapped += nbytes // page
        self.peak_reserved = max(self.peak_reserved, self.reserved)

    def on_unmap(self, nbytes: int, page: int) -> None:
        self.reserved -= nbytes
        self.num_pages_unmapped += nbytes // page

    def reset_peak(self) -> None:
        self.peak_allocated, self.peak_reserved = self.allocated, self.reserved

    def reset_accumulated(self) -> None:
        """Zero the event counters (allocs, hits, frees, retries, OOMs), as torch's reset_accumulated_memory_stats."""
        self.num_allocs = self.num_cache_hits = self.num_frees = 0
        self.num_pages_mapped = self.num_pages_unmapped = self.num_alloc_retries = self.num_ooms = 0

    def as_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d = {(k + "_bytes" if k in _BYTES else k): v for k, v in d.items()}
        # Share of the reserved memory not holding live blocks when both were at their peaks.
        d["fragmentation"] = 1.0 - self.peak_allocated / self.peak_reserved if self.peak_reserved else 0.0
        d["cache_hit_rate"] = self.num_cache_hits / self.num_allocs if self.num_allocs else 0.0
        return d


_BYTES = {"allocated", "requested", "reserved", "peak_allocated", "peak_reserved"}


def format_bytes(n: int | None) -> str:
    if n is None:
        return "none"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def summary(stats: dict, enabled: bool, limit: int | None) -> str:
    """A readable table of one `memory_stats()` dict."""
    rows = [
        ("Pool enabled (numpy eager)", "yes" if enabled else "no"),
        ("Limit", format_bytes(limit)),
        ("Allocated memory", format_bytes(stats["allocated_bytes"])),
        ("Requested memory", format_bytes(stats["requested_bytes"])),
        ("Reserved memory", format_bytes(stats["reserved_bytes"])),
        ("Peak allocated memory", format_bytes(stats["peak_allocated_bytes"])),
        ("Peak reserved memory", format_bytes(stats["peak_reserved_bytes"])),
        ("Fragmentation (1 - peak alloc/reserved)", f"{100 * stats['fragmentation']:.1f} %"),
        ("Allocations", str(stats["num_allocs"])),
        ("Served from cache", f"{stats['num_cache_hits']} ({100 * stats['cache_hit_rate']:.1f} %)"),
        ("Frees", str(stats["num_frees"])),
        ("Segments (reserved ranges)", str(stats["num_segments"])),
        ("Pages mapped / unmapped", f"{stats['num_pages_mapped']} / {stats['num_pages_unmapped']}"),
        ("OOM retries / OOMs raised", f"{stats['num_alloc_retries']} / {stats['num_ooms']}"),
    ]
    width = max(len(k) for k, _ in rows)
    value_width = max(len(v) for _, v in rows)
    title = "dslib.memory summary (caching host allocator)"
    value_width = max(value_width, len(title) - width - 3)
    line = "=" * (width + value_width + 7)
    body = [f"| {k:<{width}} | {v:>{value_width}} |" for k, v in rows]
    return "\n".join([line, f"| {title:^{width + value_width + 3}} |", line, *body, line])
