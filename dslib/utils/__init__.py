"""dslib.utils: tools around models: parameter and FLOP counting (flops.py).

from dslib.utils import count_flops, count_parameters
print(count_flops(model, (1, 3, 32, 32)).table())
"""

from .flops import FlopReport, count_flops, count_parameters
