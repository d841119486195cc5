"""Layers of ``lumen.nn``."""
from lumen.nn.modules.activation import (CELU, ELU, GELU, GLU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh,
                                         LeakyReLU, LogSigmoid, LogSoftmax, Mish, PReLU, RReLU, ReLU, ReLU6, SELU,
                                         SiLU, Sigmoid, Softmax, Softmax2d, Softmin, Softplus, Softshrink,
                                         Softsign, Tanh, Tanhshrink, Threshold)
from lumen.nn.modules.container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from lumen.nn.modules.conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from lumen.nn.modules.dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout
from lumen.nn.modules.flatten import Flatten, Unflatten
from lumen.nn.modules.linear import Bilinear, Identity, Linear
from lumen.nn.modules.loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss,
                                   GaussianNLLLoss, HingeEmbeddingLoss, HuberLoss, KLDivLoss, L1Loss,
                                   MarginRankingLoss, MSELoss, MultiLabelMarginLoss, MultiLabelSoftMarginLoss,
                                   MultiMarginLoss, NLLLoss,
                                   PoissonNLLLoss, SmoothL1Loss, SoftMarginLoss, TripletMarginLoss)
from lumen.nn.modules.normalization import (BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, InstanceNorm1d,
                                            InstanceNorm2d, InstanceNorm3d, LayerNorm, LocalResponseNorm)
from lumen.nn.modules.sparse import Embedding, EmbeddingBag
from lumen.nn.modules.normalization import RMSNorm
from lumen.nn.modules.activation import MultiheadAttention
from lumen.nn.modules.linear import NonDynamicallyQuantizableLinear
from lumen.nn.modules.pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d,
                                      AdaptiveMaxPool2d, AdaptiveMaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d,
                                      LPPool1d, LPPool2d, LPPool3d, MaxPool1d, MaxPool2d, MaxPool3d, MaxUnpool1d,
                                      MaxUnpool2d, MaxUnpool3d)
from lumen.nn.modules.padding import (CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d,
                                      ConstantPad3d, ReflectionPad1d, ReflectionPad2d, ReflectionPad3d,
                                      ReplicationPad1d, ReplicationPad2d, ReplicationPad3d, ZeroPad1d, ZeroPad2d,
                                      ZeroPad3d)
from lumen.nn.modules.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from lumen.nn.modules.pixelshuffle import PixelShuffle, PixelUnshuffle
from lumen.nn.modules.fold import Fold, Unfold

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm2d", "Conv2d", "ConvTranspose2d",
           "CrossEntropyLoss", "Dropout", "Flatten", "Identity", "LeakyReLU", "Linear", "LocalResponseNorm",
           "LogSoftmax", "MaxPool2d", "ModuleDict", "ModuleList", "NLLLoss", "ReLU", "Sequential",
           "Sigmoid", "Softmax", "Tanh",
           "BCELoss", "BCEWithLogitsLoss", "CosineEmbeddingLoss", "GaussianNLLLoss", "HingeEmbeddingLoss",
           "HuberLoss", "KLDivLoss", "L1Loss", "MarginRankingLoss", "MSELoss", "MultiLabelSoftMarginLoss",
           "MultiMarginLoss", "MultiLabelMarginLoss", "PoissonNLLLoss", "SmoothL1Loss", "SoftMarginLoss",
           "TripletMarginLoss"]
__all__ += ["CELU", "ELU", "GELU", "GLU", "Hardshrink", "Hardsigmoid", "Hardswish", "Hardtanh", "LogSigmoid",
            "Mish", "PReLU", "RReLU", "ReLU6", "SELU", "SiLU", "Softmax2d", "Softmin", "Softplus", "Softshrink",
            "Softsign", "Tanhshrink", "Threshold", "ParameterDict", "ParameterList", "AlphaDropout", "Dropout1d",
            "Dropout2d", "Dropout3d", "FeatureAlphaDropout", "Unflatten", "Bilinear", "BatchNorm1d", "BatchNorm3d",
            "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LayerNorm", "Embedding",
            "EmbeddingBag"]
__all__ += ["Conv1d", "Conv3d", "ConvTranspose1d", "ConvTranspose3d", "MaxPool1d", "MaxPool3d", "AvgPool1d",
            "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
            "AdaptiveMaxPool3d", "LPPool1d", "LPPool2d", "LPPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
            "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
            "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
            "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "Upsample", "UpsamplingBilinear2d",
            "UpsamplingNearest2d", "PixelShuffle", "PixelUnshuffle", "Fold", "Unfold"]
__all__ += ["RMSNorm"]
__all__ += ["MultiheadAttention", "NonDynamicallyQuantizableLinear"]
from lumen.nn.modules.distance import CosineSimilarity, PairwiseDistance
from lumen.nn.modules.loss import NLLLoss2d, TripletMarginWithDistanceLoss
from lumen.nn.modules.pixelshuffle import ChannelShuffle
__all__ += ["ChannelShuffle", "CosineSimilarity", "PairwiseDistance", "NLLLoss2d", "TripletMarginWithDistanceLoss"]
