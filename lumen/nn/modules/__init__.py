"""Layers of ``lumen.nn``."""
from lumen.nn.modules.activation import (CELU, ELU, GELU, GLU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh,
                                         LeakyReLU, LogSigmoid, LogSoftmax, Mish, PReLU, RReLU, ReLU, ReLU6, SELU,
                                         SiLU, Sigmoid, Softmax, Softmax2d, Softmin, Softplus, Softshrink,
                                         Softsign, Tanh, Tanhshrink, Threshold)
from lumen.nn.modules.container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from lumen.nn.modules.conv import Conv2d, ConvTranspose2d
from lumen.nn.modules.dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout
from lumen.nn.modules.flatten import Flatten, Unflatten
from lumen.nn.modules.linear import Bilinear, Identity, Linear
from lumen.nn.modules.loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss,
                                   GaussianNLLLoss, HingeEmbeddingLoss, HuberLoss, KLDivLoss, L1Loss,
                                   MarginRankingLoss, MSELoss, MultiLabelSoftMarginLoss, MultiMarginLoss, NLLLoss,
                                   PoissonNLLLoss, SmoothL1Loss, SoftMarginLoss, TripletMarginLoss)
from lumen.nn.modules.normalization import (BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, InstanceNorm1d,
                                            InstanceNorm2d, InstanceNorm3d, LayerNorm, LocalResponseNorm)
from lumen.nn.modules.sparse import Embedding, EmbeddingBag
from lumen.nn.modules.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm2d", "Conv2d", "ConvTranspose2d",
           "CrossEntropyLoss", "Dropout", "Flatten", "Identity", "LeakyReLU", "Linear", "LocalResponseNorm",
           "LogSoftmax", "MaxPool2d", "ModuleDict", "ModuleList", "NLLLoss", "ReLU", "Sequential",
           "Sigmoid", "Softmax", "Tanh",
           "BCELoss", "BCEWithLogitsLoss", "CosineEmbeddingLoss", "GaussianNLLLoss", "HingeEmbeddingLoss",
           "HuberLoss", "KLDivLoss", "L1Loss", "MarginRankingLoss", "MSELoss", "MultiLabelSoftMarginLoss",
           "MultiMarginLoss", "PoissonNLLLoss", "SmoothL1Loss", "SoftMarginLoss", "TripletMarginLoss"]
__all__ += ["CELU", "ELU", "GELU", "GLU", "Hardshrink", "Hardsigmoid", "Hardswish", "Hardtanh", "LogSigmoid",
            "Mish", "PReLU", "RReLU", "ReLU6", "SELU", "SiLU", "Softmax2d", "Softmin", "Softplus", "Softshrink",
            "Softsign", "Tanhshrink", "Threshold", "ParameterDict", "ParameterList", "AlphaDropout", "Dropout1d",
            "Dropout2d", "Dropout3d", "FeatureAlphaDropout", "Unflatten", "Bilinear", "BatchNorm1d", "BatchNorm3d",
            "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LayerNorm", "Embedding",
            "EmbeddingBag"]
