"""Training infrastructure shared by the pretraining and fine-tuning binaries: the
distribution strategy, BERT's optimizers and schedule, the shared absl flags and the
`model.fit` loop with checkpointing and resumption."""
