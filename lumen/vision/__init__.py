"""Vision: reference models, VOC data sets and transforms, segmentation metrics and plots."""
