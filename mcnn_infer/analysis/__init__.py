"""Screening analysis: plate QC (Z'), heatmaps, MoA calls, 4PL potency, profiles (pycytominer
normalisation to DMSO), NSC/NSCB evaluation and mAP (copairs).

Public entry points: :func:`mcnn_infer.analysis.pipeline.analyze` (model scores) and
:func:`mcnn_infer.analysis.translocation.analyze_translocation` (classical readout of a
translocation plate), which write their tables and figures to ``<dir>/analysis/`` with the
writers of :mod:`mcnn_infer.analysis.outputs`; :func:`mcnn_infer.analysis.evaluation.evaluate_results`
(``hcs evaluate``); :func:`mcnn_infer.analysis.readout_comparison.compare_readouts` (``hcs compare``).
Every HTML page is rendered by :mod:`mcnn_infer.report`.
"""
