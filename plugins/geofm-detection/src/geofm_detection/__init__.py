"""geofm plugin: object detection and instance segmentation on any geofm backbone.

Decoders wrap torchvision's Faster R-CNN, RetinaNet, FCOS and Mask R-CNN heads (with their FPN) on the
features of any backbone; tasks train and score them (COCO mAP); datasets read GeoTIFF chips with vector
or COCO annotations, and generate a small demo.
"""
