"""Screening analysis: plate QC (Z'), heatmaps, MoA calls, 4PL potency, profiles (pycytominer
normalisation to DMSO), NSC/NSCB evaluation and mAP (copairs).

Public entry points: :func:`mcnn_infer.analysis.pipeline.analyze` (model scores) and
:func:`mcnn_infer.analysis.translocation.analyze_translocation` (classical readout of a
translocation plate). Both write their tables and figures to ``<dir>/analysis/``.
"""
