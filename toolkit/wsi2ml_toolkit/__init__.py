"""WSI2ML's toolkit: WSI2ML exports and QuPath, ASAP and Digital Slide Archive annotations into
patches, label masks and datasets; model output back into GeoJSON that WSI2ML and QuPath open.

Plain Python (openslide, numpy, shapely, Pillow): it imports no Django, and the WSI2ML server
imports its geometry rules and file formats from here.
"""

__version__ = "0.1.0"
