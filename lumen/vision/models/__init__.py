"""Reference models: AlexNet/CaffeNet, VGG, GoogLeNet, classifier-to-FCN surgery, weight loading.

Constructors follow torchvision's names and state_dict keys; see each module for the
Caffe-specific options. One import line per model family, so more can be appended.
"""
from lumen.vision.models.alexnet import AlexNet, CaffeNet, alexnet, caffenet
from lumen.vision.models.googlenet import GoogLeNet, GoogLeNetOutputs, Inception, InceptionAux, googlenet
from lumen.vision.models.npz import load_npz, read_npz, save_npz
from lumen.vision.models.surgery import FullyConvNet, convolutionalize
from lumen.vision.models.vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn
from lumen.vision.models.geometry import CoordMap, coord_map, register_coord_map
from lumen.vision.models.backbones import AlexNetBackbone, Backbone, GoogLeNetBackbone, VGG16Backbone
from lumen.vision.models.fcn import FCN, FCN8s, FCN8sAtOnce, FCN16s, FCN32s, fcn8s, fcn8s_atonce, fcn16s, fcn32s
from lumen.vision.models.fusion import LateFusionFCN
from lumen.vision.models import onnx_export  # noqa: F401  (registers the models' lumen.onnx export rules)
