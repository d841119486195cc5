"""Differentiable deep-learning ops with ``torch.nn.functional``'s names and signatures.

Re-exports: each op lives once in ``lumen.ops.<family>`` (its function, its Functions' forward and
backward, its backend calls); backward passes are themselves differentiable, so double backward works.
"""
from lumen.ops.activation import (celu, celu_, elu, elu_, gelu, glu, hardshrink, hardsigmoid, hardswish, hardtanh,
                                  hardtanh_, leaky_relu, leaky_relu_, log_softmax, logsigmoid, mish, prelu, relu,
                                  relu6, relu_, rrelu, rrelu_, selu, selu_, silu, softmax, softmin, softplus,
                                  softshrink, softsign, tanhshrink, threshold, threshold_)
from lumen.ops.conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d
from lumen.ops.dropout import alpha_dropout, dropout, dropout1d, dropout2d, dropout3d, feature_alpha_dropout
from lumen.ops.embedding import embedding, embedding_bag, one_hot
from lumen.ops.linear import bilinear
from lumen.ops.activation import gumbel_softmax, multi_head_attention_forward, scaled_dot_product_attention
from lumen.ops.normalization import rms_norm
from lumen.ops.unary import sigmoid, tanh
from lumen.ops.linear import linear
from lumen.ops.loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cosine_embedding_loss,
                             cosine_similarity, cross_entropy, gaussian_nll_loss, hinge_embedding_loss, huber_loss,
                             kl_div, l1_loss, margin_ranking_loss, mse_loss, multi_margin_loss,
                             multilabel_margin_loss,
                             multilabel_soft_margin_loss, nll_loss, pairwise_distance, poisson_nll_loss,
                             smooth_l1_loss, soft_margin_loss, triplet_margin_loss)
from lumen.ops.normalization import (batch_norm, group_norm, instance_norm, layer_norm, local_response_norm,
                                     normalize)
from lumen.ops.pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d, adaptive_max_pool1d,
                                adaptive_max_pool2d, adaptive_max_pool3d, avg_pool1d, avg_pool2d, avg_pool3d, lp_pool1d,
                                lp_pool2d, lp_pool3d, max_pool1d, max_pool2d, max_pool3d, max_unpool1d, max_unpool2d,
                                max_unpool3d)
from lumen.ops.resample import (crop, fold, interpolate, pixel_shuffle, pixel_unshuffle, unfold, upsample,
                                 upsample_bilinear, upsample_nearest)
from lumen.ops.shape import pad

__all__ = ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
           "local_response_norm", "batch_norm", "relu", "leaky_relu", "softmax", "log_softmax", "dropout", "linear",
           "cross_entropy", "nll_loss", "l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "poisson_nll_loss",
           "gaussian_nll_loss", "margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss",
           "multilabel_soft_margin_loss", "cosine_embedding_loss", "multi_margin_loss", "multilabel_margin_loss",
           "triplet_margin_loss",
           "cosine_similarity", "pairwise_distance", "crop", "interpolate", "pad"]
__all__ += ["celu", "celu_", "elu", "elu_", "gelu", "glu", "hardshrink", "hardsigmoid", "hardswish", "hardtanh",
            "hardtanh_", "leaky_relu_", "logsigmoid", "mish", "prelu", "relu6", "relu_", "rrelu", "rrelu_", "selu",
            "selu_", "silu", "softmin", "softplus", "softshrink", "softsign", "tanhshrink", "threshold",
            "threshold_", "alpha_dropout", "dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout",
            "group_norm", "instance_norm", "layer_norm", "normalize", "embedding", "embedding_bag", "one_hot",
            "bilinear"]
__all__ += ["conv1d", "conv3d", "conv_transpose1d", "conv_transpose3d", "max_pool1d", "max_pool3d", "avg_pool1d",
            "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
            "adaptive_max_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_unpool1d", "max_unpool2d",
            "max_unpool3d", "fold", "unfold", "pixel_shuffle", "pixel_unshuffle", "upsample", "upsample_bilinear",
            "upsample_nearest"]
__all__ += ["gumbel_softmax", "rms_norm", "sigmoid", "tanh"]
__all__ += ["scaled_dot_product_attention"]
__all__ += ["multi_head_attention_forward"]
from lumen.ops.grid import affine_grid, grid_sample
from lumen.ops.loss import pdist, triplet_margin_with_distance_loss
from lumen.ops.pooling import (adaptive_max_pool1d_with_indices, adaptive_max_pool2d_with_indices,
                                adaptive_max_pool3d_with_indices, max_pool1d_with_indices, max_pool2d_with_indices,
                                max_pool3d_with_indices)
from lumen.ops.resample import channel_shuffle, native_channel_shuffle
__all__ += ["affine_grid", "grid_sample", "pdist", "triplet_margin_with_distance_loss", "channel_shuffle",
            "native_channel_shuffle", "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
            "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices"]
