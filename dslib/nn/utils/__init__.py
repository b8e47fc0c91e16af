"""dslib.nn.utils: helpers around training (gradient clipping), as torch.nn.utils."""

from .clip_grad import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
