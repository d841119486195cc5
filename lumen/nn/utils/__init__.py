"""``torch.nn.utils``: gradient clipping and flattening parameters into one vector."""
from lumen.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from lumen.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters
from lumen.nn.utils.clip_grad import clip_grad_norm
from lumen.nn.utils.init import skip_init
from lumen.nn.utils.spectral_norm import remove_spectral_norm, spectral_norm
from lumen.nn.utils.weight_norm import remove_weight_norm, weight_norm
from lumen.nn.utils import fusion, parametrizations, parametrize
from lumen.nn.utils.fusion import fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval, fuse_linear_bn_weights

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm",
           "parameters_to_vector", "vector_to_parameters"]
__all__ += ["clip_grad_norm", "skip_init", "spectral_norm", "remove_spectral_norm", "weight_norm",
            "remove_weight_norm", "parametrize", "parametrizations", "fusion", "fuse_conv_bn_eval",
            "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights"]
