"""Caffe models in and out: ``load(prototxt, caffemodel)`` builds a Lumen module from a Caffe net
definition and its trained blobs; ``save(module, prototxt, caffemodel)`` writes Lumen's shipped
nets back; ``compare(net_a, net_b, input)`` prints their per-layer differences.

Needs the ``protobuf`` package (``pip install 'lumen[caffe]'``). The schema is our own subset of
Caffe's ``caffe.proto`` (``schema``), with Caffe's field numbers.
"""
from lumen.vision.caffe.layers import CaffeLayerError
from lumen.vision.caffe.net import (CaffeFormatError, Net, caffemodel_state_dict, compare, load, read_caffemodel,
                                   read_prototxt)
from lumen.vision.caffe.save import GOOGLENET_NAMES, INCEPTION_NAMES, lumen_keys, save

__all__ = ["load", "save", "compare", "caffemodel_state_dict", "lumen_keys", "Net", "CaffeFormatError",
           "CaffeLayerError", "read_prototxt", "read_caffemodel", "GOOGLENET_NAMES", "INCEPTION_NAMES"]
