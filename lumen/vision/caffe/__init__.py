"""Caffe models in and out: ``load(prototxt, caffemodel)`` builds a Lumen module from a Caffe net
definition and its trained blobs; ``save(module, prototxt, caffemodel)`` writes Lumen's shipped
nets back; ``compare(net_a, net_b, input)`` prints their per-layer differences.

Needs the ``protobuf`` package (``pip install 'lumen[caffe]'``). The schema is our own subset of
Caffe's ``caffe.proto`` (``schema``), with Caffe's field numbers.
"""
from lumen.vision.caffe.layers import CaffeLayerError
from lumen.vision.caffe.net import (CaffeFormatError, Net, caffemodel_state_dict, compare, load, read_caffemodel,
                                   read_prototxt)

__all__ = ["load", "compare", "Net", "CaffeFormatError", "CaffeLayerError", "read_prototxt", "read_caffemodel",
           "caffemodel_state_dict"]
