"""Explanations: token attributions (Integrated Gradients, gradient x input) and
attention maps, for any task through its target hooks (`bert_tf.tasks.ExplainTarget`).

    clf.explain(["A warm, funny film."])   # bert_tf.TaskModel.explain

Modules: `attributions` (the attribution math, in the TF graph), `words` (word pieces
to words and character spans), `html` (a self-contained page), `plot` (PNG heatmaps).
"""
