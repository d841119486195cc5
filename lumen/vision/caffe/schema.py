"""The part of Caffe's ``caffe.proto`` that Lumen reads and writes, built at import time.

The messages, fields and enum values below are a subset of BVLC Caffe's public schema
(``src/caffe/proto/caffe.proto``) with its field numbers and defaults, so files written by
Caffe parse here and files written here parse in Caffe. They are declared as a table and
turned into a protobuf ``FileDescriptorProto`` with protobuf's descriptor API, so no
``protoc`` is needed to install Lumen. Fields not declared here are kept by the binary
parser as unknown fields and skipped by the text parser; none of them changes what a
net computes at test time (learning-rate multipliers, engines, data sources ...); a misspelt
field name in a prototxt is skipped too, where Caffe's own parser would reject it.

One deliberate difference: ``BlobProto.data`` and ``double_data`` are Caffe's *packed*
``repeated float``/``double`` fields. A packed field is a single length-delimited payload
of little-endian IEEE values, which is on the wire exactly a ``bytes`` field, so they are
declared ``repeated bytes`` here: a 528 MB VGG16 caffemodel then parses into one buffer
per blob that becomes a tensor in one copy, instead of 138 million Python floats.
Caffe always writes these fields packed. A writer that did not (one value per field, wire type
5 or 1) leaves them as unknown fields of ``BlobProto``; ``BlobValues`` declares the two fields
as repeated floats/doubles, which protobuf parses in either encoding, so such a blob is read by
re-parsing it through ``BlobValues`` (and written unpacked by it, proto2's default encoding).
"""
from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["NetParameter", "V1_LAYER_TYPES", "message"]

_PACKAGE = "caffe"

_ENUMS = {
    "Phase": {"TRAIN": 0, "TEST": 1},
    "FillerParameter.VarianceNorm": {"FAN_IN": 0, "FAN_OUT": 1, "AVERAGE": 2},
    "LossParameter.NormalizationMode": {"FULL": 0, "VALID": 1, "BATCH_SIZE": 2, "NONE": 3},
    "EltwiseParameter.EltwiseOp": {"PROD": 0, "SUM": 1, "MAX": 2},
    "LRNParameter.NormRegion": {"ACROSS_CHANNELS": 0, "WITHIN_CHANNEL": 1},
    "PoolingParameter.PoolMethod": {"MAX": 0, "AVE": 1, "STOCHASTIC": 2},
    "PoolingParameter.RoundMode": {"CEIL": 0, "FLOOR": 1},
    "V1LayerParameter.LayerType": {
        "NONE": 0, "ABSVAL": 35, "ACCURACY": 1, "ARGMAX": 30, "BNLL": 2, "CONCAT": 3,
        "CONTRASTIVE_LOSS": 37, "CONVOLUTION": 4, "CROP": 40, "DATA": 5, "DECONVOLUTION": 39, "DROPOUT": 6,
        "DUMMY_DATA": 32, "EUCLIDEAN_LOSS": 7, "ELTWISE": 25, "EXP": 38, "FLATTEN": 8,
        "HDF5_DATA": 9, "HDF5_OUTPUT": 10, "HINGE_LOSS": 28, "IM2COL": 11, "IMAGE_DATA": 12,
        "INFOGAIN_LOSS": 13, "INNER_PRODUCT": 14, "LRN": 15, "MEMORY_DATA": 29,
        "MULTINOMIAL_LOGISTIC_LOSS": 16, "MVN": 34, "POOLING": 17, "POWER": 26, "RELU": 18,
        "SIGMOID": 19, "SIGMOID_CROSS_ENTROPY_LOSS": 27, "SILENCE": 36, "SOFTMAX": 20,
        "SOFTMAX_LOSS": 21, "SPLIT": 22, "SLICE": 33, "TANH": 23, "WINDOW_DATA": 24, "THRESHOLD": 31},
}

#: V1 ``LayerType`` enum names -> the V2 type strings (Caffe's ``UpgradeV1LayerType``). ``CROP = 40``
#: is not upstream's: it is longjon/caffe's (the fork the FCN nets were trained with), whose
#: parameterless crop ``coords`` places.
V1_LAYER_TYPES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "CROP": "Crop", "DATA": "Data",
    "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct",
    "LRN": "LRN", "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN", "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence", "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice", "TANH": "TanH",
    "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}

# message -> [(field, number, type, default)]. A type ending in "*" is repeated ("*p": packed);
# a capitalised type is a message, "enum:X" one of _ENUMS; default None: none declared.
_MESSAGES = {
    "BlobShape": [("dim", 1, "int64*p", None)],
    "BlobProto": [("shape", 7, "BlobShape", None), ("data", 5, "bytes*", None),
                  ("double_data", 8, "bytes*", None), ("num", 1, "int64", 0), ("channels", 2, "int64", 0),
                  ("height", 3, "int64", 0), ("width", 4, "int64", 0)],
    "BlobValues": [("data", 5, "float*", None), ("double_data", 8, "double*", None)],
    "FillerParameter": [("type", 1, "string", "constant"), ("value", 2, "float", 0.0),
                        ("min", 3, "float", 0.0), ("max", 4, "float", 1.0), ("mean", 5, "float", 0.0),
                        ("std", 6, "float", 1.0), ("sparse", 7, "int32", -1),
                        ("variance_norm", 8, "enum:FillerParameter.VarianceNorm", "FAN_IN")],
    "NetParameter": [("name", 1, "string", None), ("input", 3, "string*", None),
                     ("input_shape", 8, "BlobShape*", None), ("input_dim", 4, "int32*", None),
                     ("state", 6, "NetState", None), ("layer", 100, "LayerParameter*", None),
                     ("layers", 2, "V1LayerParameter*", None)],
    "NetState": [("phase", 1, "enum:Phase", "TEST"), ("level", 2, "int32", 0), ("stage", 3, "string*", None)],
    "NetStateRule": [("phase", 1, "enum:Phase", None), ("min_level", 2, "int32", None),
                     ("max_level", 3, "int32", None), ("stage", 4, "string*", None),
                     ("not_stage", 5, "string*", None)],
    "ParamSpec": [("name", 1, "string", None), ("lr_mult", 3, "float", 1.0), ("decay_mult", 4, "float", 1.0)],
    "LayerParameter": [
        ("name", 1, "string", None), ("type", 2, "string", None), ("bottom", 3, "string*", None),
        ("top", 4, "string*", None), ("phase", 10, "enum:Phase", None), ("loss_weight", 5, "float*", None),
        ("param", 6, "ParamSpec*", None), ("blobs", 7, "BlobProto*", None),
        ("include", 8, "NetStateRule*", None), ("exclude", 9, "NetStateRule*", None),
        ("loss_param", 101, "LossParameter", None), ("accuracy_param", 102, "AccuracyParameter", None),
        ("batch_norm_param", 139, "BatchNormParameter", None), ("bias_param", 141, "BiasParameter", None),
        ("concat_param", 104, "ConcatParameter", None),
        ("convolution_param", 106, "ConvolutionParameter", None), ("crop_param", 144, "CropParameter", None),
        ("dropout_param", 108, "DropoutParameter", None), ("dummy_data_param", 109, "DummyDataParameter", None),
        ("eltwise_param", 110, "EltwiseParameter", None), ("flatten_param", 135, "FlattenParameter", None),
        ("inner_product_param", 117, "InnerProductParameter", None),
        ("input_param", 143, "InputParameter", None), ("lrn_param", 118, "LRNParameter", None),
        ("pooling_param", 121, "PoolingParameter", None), ("power_param", 122, "PowerParameter", None),
        ("python_param", 130, "PythonParameter", None), ("relu_param", 123, "ReLUParameter", None),
        ("reshape_param", 133, "ReshapeParameter", None), ("scale_param", 142, "ScaleParameter", None),
        ("softmax_param", 125, "SoftmaxParameter", None)],
    "V1LayerParameter": [
        ("bottom", 2, "string*", None), ("top", 3, "string*", None), ("name", 4, "string", None),
        ("include", 32, "NetStateRule*", None), ("exclude", 33, "NetStateRule*", None),
        ("type", 5, "enum:V1LayerParameter.LayerType", None), ("blobs", 6, "BlobProto*", None),
        ("blobs_lr", 7, "float*", None), ("weight_decay", 8, "float*", None),
        ("loss_weight", 35, "float*", None), ("accuracy_param", 27, "AccuracyParameter", None),
        ("concat_param", 9, "ConcatParameter", None), ("convolution_param", 10, "ConvolutionParameter", None),
        ("dropout_param", 12, "DropoutParameter", None), ("dummy_data_param", 26, "DummyDataParameter", None),
        ("eltwise_param", 24, "EltwiseParameter", None),
        ("inner_product_param", 17, "InnerProductParameter", None), ("lrn_param", 18, "LRNParameter", None),
        ("pooling_param", 19, "PoolingParameter", None), ("power_param", 21, "PowerParameter", None),
        ("relu_param", 30, "ReLUParameter", None), ("softmax_param", 39, "SoftmaxParameter", None),
        ("loss_param", 42, "LossParameter", None)],
    "LossParameter": [("ignore_label", 1, "int32", None), ("normalize", 2, "bool", None),
                      ("normalization", 3, "enum:LossParameter.NormalizationMode", "VALID")],
    "AccuracyParameter": [("top_k", 1, "uint32", 1), ("axis", 2, "int32", 1), ("ignore_label", 3, "int32", None)],
    "BatchNormParameter": [("use_global_stats", 1, "bool", None), ("moving_average_fraction", 2, "float", 0.999),
                           ("eps", 3, "float", 1e-5)],
    "BiasParameter": [("axis", 1, "int32", 1), ("num_axes", 2, "int32", 1), ("filler", 3, "FillerParameter", None)],
    "ConcatParameter": [("axis", 2, "int32", 1), ("concat_dim", 1, "uint32", 1)],
    "ConvolutionParameter": [
        ("num_output", 1, "uint32", None), ("bias_term", 2, "bool", True), ("pad", 3, "uint32*", None),
        ("kernel_size", 4, "uint32*", None), ("stride", 6, "uint32*", None), ("dilation", 18, "uint32*", None),
        ("pad_h", 9, "uint32", 0), ("pad_w", 10, "uint32", 0), ("kernel_h", 11, "uint32", None),
        ("kernel_w", 12, "uint32", None), ("stride_h", 13, "uint32", None), ("stride_w", 14, "uint32", None),
        ("group", 5, "uint32", 1), ("weight_filler", 7, "FillerParameter", None),
        ("bias_filler", 8, "FillerParameter", None), ("axis", 16, "int32", 1)],
    "CropParameter": [("axis", 1, "int32", 2), ("offset", 2, "uint32*", None)],
    "DropoutParameter": [("dropout_ratio", 1, "float", 0.5)],
    "DummyDataParameter": [("data_filler", 1, "FillerParameter*", None), ("shape", 6, "BlobShape*", None),
                           ("num", 2, "uint32*", None), ("channels", 3, "uint32*", None),
                           ("height", 4, "uint32*", None), ("width", 5, "uint32*", None)],
    "EltwiseParameter": [("operation", 1, "enum:EltwiseParameter.EltwiseOp", "SUM"), ("coeff", 2, "float*", None)],
    "FlattenParameter": [("axis", 1, "int32", 1), ("end_axis", 2, "int32", -1)],
    "InnerProductParameter": [("num_output", 1, "uint32", None), ("bias_term", 2, "bool", True),
                              ("weight_filler", 3, "FillerParameter", None),
                              ("bias_filler", 4, "FillerParameter", None), ("axis", 5, "int32", 1),
                              ("transpose", 6, "bool", False)],
    "InputParameter": [("shape", 1, "BlobShape*", None)],
    "LRNParameter": [("local_size", 1, "uint32", 5), ("alpha", 2, "float", 1.0), ("beta", 3, "float", 0.75),
                     ("norm_region", 4, "enum:LRNParameter.NormRegion", "ACROSS_CHANNELS"),
                     ("k", 5, "float", 1.0)],
    "PoolingParameter": [
        ("pool", 1, "enum:PoolingParameter.PoolMethod", "MAX"), ("pad", 4, "uint32", 0),
        ("pad_h", 9, "uint32", 0), ("pad_w", 10, "uint32", 0), ("kernel_size", 2, "uint32", None),
        ("kernel_h", 5, "uint32", None), ("kernel_w", 6, "uint32", None), ("stride", 3, "uint32", 1),
        ("stride_h", 7, "uint32", None), ("stride_w", 8, "uint32", None),
        ("global_pooling", 12, "bool", False),
        ("round_mode", 13, "enum:PoolingParameter.RoundMode", "CEIL")],
    "PowerParameter": [("power", 1, "float", 1.0), ("scale", 2, "float", 1.0), ("shift", 3, "float", 0.0)],
    "PythonParameter": [("module", 1, "string", None), ("layer", 2, "string", None),
                        ("param_str", 3, "string", "")],
    "ReLUParameter": [("negative_slope", 1, "float", 0.0)],
    "ReshapeParameter": [("shape", 1, "BlobShape", None), ("axis", 2, "int32", 0), ("num_axes", 3, "int32", -1)],
    "ScaleParameter": [("axis", 1, "int32", 1), ("num_axes", 2, "int32", 1), ("filler", 3, "FillerParameter", None),
                       ("bias_term", 4, "bool", False), ("bias_filler", 5, "FillerParameter", None)],
    "SoftmaxParameter": [("axis", 2, "int32", 1)],
}

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {"int64": _F.TYPE_INT64, "int32": _F.TYPE_INT32, "uint32": _F.TYPE_UINT32, "float": _F.TYPE_FLOAT,
            "double": _F.TYPE_DOUBLE, "bool": _F.TYPE_BOOL, "string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES}


def _default_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(name="lumen_caffe.proto", package=_PACKAGE, syntax="proto2")
    messages = {}
    for name, fields in _MESSAGES.items():
        msg = messages[name] = fdp.message_type.add(name=name)
        for field_name, number, kind, default in fields:
            repeated, packed = "*" in kind, kind.endswith("*p")
            kind = kind.split("*")[0]
            field = msg.field.add(name=field_name, number=number,
                                  label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
            if kind in _SCALARS:
                field.type = _SCALARS[kind]
            elif kind.startswith("enum:"):
                field.type, field.type_name = _F.TYPE_ENUM, f".{_PACKAGE}.{kind[5:]}"
            else:
                field.type, field.type_name = _F.TYPE_MESSAGE, f".{_PACKAGE}.{kind}"
            if packed:
                field.options.packed = True
            if default is not None:
                field.default_value = _default_text(default)
    for name, values in _ENUMS.items():
        owner, _, enum_name = name.rpartition(".")
        enum = (messages[owner].enum_type if owner else fdp.enum_type).add(name=enum_name)
        for value_name, number in values.items():
            enum.value.add(name=value_name, number=number)
    return fdp


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file_descriptor())


def message(name: str):
    """The message class ``caffe.<name>`` of this schema (e.g. ``message("LayerParameter")``)."""
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{_PACKAGE}.{name}"))


NetParameter = message("NetParameter")
