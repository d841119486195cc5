"""Layers of ``lumen.nn``."""
from lumen.nn.modules.activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from lumen.nn.modules.container import ModuleDict, ModuleList, Sequential
from lumen.nn.modules.conv import Conv2d, ConvTranspose2d
from lumen.nn.modules.dropout import Dropout
from lumen.nn.modules.flatten import Flatten
from lumen.nn.modules.linear import Identity, Linear
from lumen.nn.modules.loss import CrossEntropyLoss, NLLLoss
from lumen.nn.modules.normalization import BatchNorm2d, LocalResponseNorm
from lumen.nn.modules.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm2d", "Conv2d", "ConvTranspose2d",
           "CrossEntropyLoss", "Dropout", "Flatten", "Identity", "LeakyReLU", "Linear", "LocalResponseNorm",
           "LogSoftmax", "MaxPool2d", "ModuleDict", "ModuleList", "NLLLoss", "ReLU", "Sequential",
           "Sigmoid", "Softmax", "Tanh"]
