"""What every room may use and that needs nothing of bert_tf: `fields.config_field` (how
settings dataclasses declare their flags) and `hardware` (what the CPU can do). Neither
imports TensorFlow."""
