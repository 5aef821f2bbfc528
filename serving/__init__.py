"""Clients for bert_tf models served by TF Serving (installed as `bert_tf_serving`)."""
