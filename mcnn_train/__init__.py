"""hcs training side: the M-CNN in tf.keras, the Horovod trainer and the exporters.

May import :mod:`mcnn_infer` (one preprocessing code path); never the reverse.
"""
