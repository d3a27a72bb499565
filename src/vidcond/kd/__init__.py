"""Knowledge distillation of a video student from a teacher, and the SAKD plug-in.

* :mod:`.losses` the KD methods (kd, dkd, ctkd, fea) as per-sample losses;
* :mod:`.sakd`   SAKD's interruption, difficulty, strength and per-sample state;
* :mod:`.dpp`    the fast greedy MAP DPP and SAKD's easy-and-diverse selection;
* :mod:`.loop`   the training loop (checkpointed per epoch) and the `kd` job's row;
* :mod:`.tables` the KD table and the ablation table.

Where the SAKD paper leaves details open we chose (and the tests pin down):

* epochs are counted n = 1..N in beta(n), so beta(1) > 0 and beta(N) = 1;
* "dropping" a frame blanks it (zeros) so that clips keep their shape; at least one frame
  of a clip survives; "shuffling" permutes the chosen frames among the chosen slots of the
  whole scoring batch (so frames move between clips of different actions);
* the selection counts are normalised by their maximum; 1/zeta = p * L~kd is normalised by
  its maximum to [0, 1]; alpha starts at 0 and is clamped to [1e-4, 1 - 1e-4];
* the interruption only serves the scoring pass: selected clips train un-interrupted, with
  the evaluator's augmentation; the scoring pass runs the student in eval mode;
* features are the pooled embeddings before the classifier (teacher for the DPP kernel, and
  both for `fea`, whose 1x1x1 map takes the student's to the teacher's width; eq. (1)'s
  f applied to both sides would let the map collapse);
* eq. (8) is solved as a quality-diversity DPP: kernel diag(q) S diag(q), S the cosine
  similarity of the fused teacher features (a Gram matrix, PSD) plus a small jitter,
  q = exp(gamma / (2 (1 - gamma)) * (1 / zeta)) (the paper gives no gamma: 0.5 here);
* between selections ("every k epochs") the same subset and strengths are used.
"""
