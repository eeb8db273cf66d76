"""The optimizer step whose result does not depend on how many workers compute it.

Averaging gradients over workers computes the same update as one worker with the whole batch
(the M-CNN has no batch normalisation), but not the same bits: a convolution's weight gradient
summed by two threads differs from the same sum made by one thread (measured up to 5e-8 on the
small M-CNN), and the workers' partial sums are added in another order. SGD at the demo's
learning rate grows such rounding like a change of seed within a few epochs, so a run with 2
workers ended 0.06 apart in Z' from the same run with 1 worker. This step removes both causes:

1. Each worker's share of the global batch is cut into micro-batches of ``micro_batch`` images
   (their place in the global batch is fixed: :func:`mcnn_train.data.worker_slice`).
2. Each micro-batch's gradient (mean loss over its images plus the L2 loss) is computed by
   single-threaded ops (:func:`mcnn_train.distributed.init` with ``single_thread_ops``); the
   worker's threads run the micro-batches side by side, so it still uses its cores.
3. The micro-batch gradients are added in one fixed binary tree over their place in the global
   batch (:func:`tree_sum`: left half + right half). A worker holds a contiguous run of
   micro-batches, so with 1 or 2 workers the allreduce of the workers' partial sums completes
   the same tree. TensorFlow's arithmetic optimizer, which would regroup the additions, is off
   (:func:`keep_addition_order`).
4. The total is divided by the number of micro-batches in the global batch and applied by the
   optimizer.

With 1 and 2 workers the weights are the same bits. With more workers Horovod's ring adds the
partial sums in an order that rotates over tensor chunks, so they agree to float rounding.
"""

from __future__ import annotations

import tensorflow as tf

from mcnn_train import distributed


def keep_addition_order() -> None:
    """Stop Grappler from regrouping additions (``(a + b) + (c + d)`` into one ``AddN``)."""
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})


def tree_sum(parts: list[list[tf.Tensor]]) -> list[tf.Tensor]:
    """Element-wise sum of gradient lists, added in a fixed binary tree: left half + right half.

    Parameters
    ----------
    parts : list of list of tf.Tensor
        One gradient list per micro-batch, in the micro-batches' order in the global batch;
        every list holds one tensor per trainable variable (that variable's shape).

    Returns
    -------
    list of tf.Tensor
        The sum, one tensor per variable.
    """
    if len(parts) == 1:
        return list(parts[0])
    half = (len(parts) + 1) // 2
    left, right = tree_sum(parts[:half]), tree_sum(parts[half:])
    return [a + b for a, b in zip(left, right, strict=True)]


class CanonicalStepModel(tf.keras.Model):
    """A functional Keras model whose ``fit`` makes the canonical step described above.

    Built like a functional model, ``CanonicalStepModel(inputs, outputs, micro_batch=...,
    local_batch=..., global_batch=...)``; compiled with a plain (not Horovod-wrapped) optimizer.

    Parameters
    ----------
    micro_batch : int
        Images per gradient computation (``--micro-batch``).
    local_batch, global_batch : int
        Images per optimizer step on this worker and over all workers; both multiples of
        ``micro_batch``.
    """

    def __init__(self, *args, micro_batch: int, local_batch: int, global_batch: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.micro_batch = int(micro_batch)
        self.local_micro_batches = int(local_batch) // self.micro_batch
        self.global_micro_batches = int(global_batch) // self.micro_batch

    def train_step(self, data):
        images, one_hot = data
        size = self.micro_batch
        parts = []
        for i in range(self.local_micro_batches):
            x, y = images[i * size : (i + 1) * size], one_hot[i * size : (i + 1) * size]
            with tf.GradientTape() as tape:
                logits = self(x, training=True)
                loss = self.compute_loss(x, y, logits)
            parts.append(tape.gradient(loss, self.trainable_variables))
            self.compute_metrics(x, y, logits, None)
        total = distributed.allreduce_gradient_sum(tree_sum(parts))
        scale = 1.0 / self.global_micro_batches
        self.optimizer.apply_gradients(zip([g * scale for g in total], self.trainable_variables, strict=True))
        return self.get_metrics_result()
