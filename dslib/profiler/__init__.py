"""dslib.profiler: op- and module-level profiling of dslib programs, with torch.profiler's names.

    import dslib
    with dslib.profiler.profile(record_shapes=True, profile_memory=True, with_modules=True) as prof:
        loss = model(x).sum()
        loss.backward()
    print(prof.key_averages().table(sort_by="self_time", row_limit=10))  # top-10 ops and modules
    prof.export_chrome_trace("trace.json")                               # ui.perfetto.dev / chrome://tracing
    print(prof.find_redundancy())                                        # recomputed ops, needless copies

profile.py records (wall time, FLOPs, bytes moved, memory, calls), averages.py groups and prints, trace.py writes
the Chrome trace, redundancy.py finds wasted work. Calling a dslib.compile'd function inside the block records
its replay node by node (conv2d, fused[mul, add, relu], conv2d.backward, sgd.step) with a Phase column.
Tests: .venv/bin/pytest tests/dslib/profiler -q
"""

from .averages import FunctionAverage, KeyAverages
from .profile import Event, profile
from .redundancy import RedundancyReport

__all__ = ["Event", "FunctionAverage", "KeyAverages", "RedundancyReport", "profile"]
