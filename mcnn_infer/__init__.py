"""hcs inference side: plate I/O, preprocessing, model cards and CPU scoring.

This package never imports TensorFlow.
"""

__version__ = "0.1.0"
