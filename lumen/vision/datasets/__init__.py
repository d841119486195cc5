"""Segmentation data sets: PASCAL VOC, Berkeley SBD and synthetic stand-ins in their layouts."""
from lumen.vision.datasets.folder import SegmentationFolder, median_frequency_weights
from lumen.vision.datasets.synthetic import render_sample, synthetic_sbd, synthetic_voc
from lumen.vision.datasets.voc import VOC_CLASSES, VOID, SBDSegmentation, VOCSegmentation

__all__ = ["VOCSegmentation", "SBDSegmentation", "SegmentationFolder", "median_frequency_weights", "VOC_CLASSES", "VOID", "synthetic_voc", "synthetic_sbd",
           "render_sample"]
