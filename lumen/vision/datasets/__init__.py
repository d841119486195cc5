"""Segmentation data sets: PASCAL VOC, Berkeley SBD and synthetic stand-ins in their layouts."""
from lumen.vision.datasets.folder import SegmentationFolder, median_frequency_weights
from lumen.vision.datasets.synthetic import render_sample, synthetic_sbd, synthetic_voc
from lumen.vision.datasets.voc import VOC_CLASSES, VOID, SBDSegmentation, VOCSegmentation
from lumen.vision.datasets.nyud import NYUD_CLASSES, NYUDInput, NYUDv2
from lumen.vision.datasets.siftflow import GEOMETRIC_CLASSES, SIFTFLOW_CLASSES, SIFTFlow, SIFTFlowInput
from lumen.vision.datasets.pascalcontext import CONTEXT_CLASSES, PASCALContext
from lumen.vision.datasets.synthetic_scenes import synthetic_context, synthetic_nyud, synthetic_siftflow

__all__ = ["VOCSegmentation", "SBDSegmentation", "SegmentationFolder", "median_frequency_weights", "VOC_CLASSES", "VOID", "synthetic_voc", "synthetic_sbd",
           "render_sample",
           "NYUDv2", "NYUDInput", "NYUD_CLASSES", "SIFTFlow", "SIFTFlowInput", "SIFTFLOW_CLASSES", "GEOMETRIC_CLASSES",
           "PASCALContext", "CONTEXT_CLASSES", "synthetic_nyud", "synthetic_siftflow", "synthetic_context"]
