"""``hcs score``: pipelined, resumable, sharded plate scoring on CPU cores; ``hcs merge``.

Public entry points: :func:`mcnn_infer.scoring.pipeline.score_plates` and
:func:`mcnn_infer.scoring.merge.merge_results`.
"""
