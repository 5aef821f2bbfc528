"""The student of a distillation: its encoder, made of teacher layers (copies of the
teacher's embeddings, chosen Transformer layers and pooler) or fresh from a preset or a
pretrained checkpoint, the teacher layer each of its layers maps to (`student_encoder`,
`spread_layers`), and the teacher's task head copied onto it (`copy_head`).
"""
import dataclasses

from bert_tf.convert import pretrained
from bert_tf.model.config import BertConfig
from bert_tf.model.encoder import BertEncoder, find_encoder


def spread_layers(num_student, num_teacher):
    """The teacher layer each of `num_student` student layers maps to: spread evenly,
    the top layer last, (i + 1) * num_teacher // num_student - 1."""
    return [(i + 1) * num_teacher // num_student - 1 for i in range(num_student)]


def student_encoder(teacher_encoder, config, tokenizer):
    """(BertEncoder of the student, the teacher layer each of its layers maps to).

    Built in the caller's strategy scope and dtype policy. From teacher layers its
    embeddings, blocks and pooler are copies of the teacher's; else fresh (preset) or
    pretrained (checkpoint).

    Args:
        teacher_encoder: the teacher's BertEncoder.
        config: DistillationConfig.
        tokenizer: the task's BertTokenizer (a checkpoint must share its vocabulary).
    """
    teacher_config = teacher_encoder.bert_config
    num_teacher = teacher_config.num_hidden_layers
    if config.from_teacher_layers:
        layers = config.teacher_layers or spread_layers(config.student_layers, num_teacher)
        if len(layers) > num_teacher or layers[-1] >= num_teacher:
            raise ValueError(
                f"The teacher has {num_teacher} layers (0 to {num_teacher - 1}); "
                + (f"teacher_layers {layers} names others" if config.teacher_layers else
                   f"student_layers {config.student_layers} is more"))
        encoder = BertEncoder.from_bert_config(
            dataclasses.replace(teacher_config, num_hidden_layers=len(layers)))
        encoder.embeddings.set_weights(teacher_encoder.embeddings.get_weights())
        for block, index in zip(encoder.transformer_layers, layers):
            block.set_weights(teacher_encoder.transformer_layers[index].get_weights())
        encoder.pooler.set_weights(teacher_encoder.pooler.get_weights())
        return encoder, layers
    if config.student_preset:
        name = config.student_preset
        bert_config = (BertConfig.from_json_file(name) if name.endswith(".json")
                       else BertConfig.from_preset(name))
        encoder = BertEncoder.from_bert_config(dataclasses.replace(
            bert_config, vocab_size=teacher_config.vocab_size,
            type_vocab_size=teacher_config.type_vocab_size))
    else:
        vocab = pretrained.load_tokenizer(config.student_checkpoint).vocab
        if list(vocab) != list(tokenizer.vocab):
            raise ValueError(f"student_checkpoint {config.student_checkpoint} has another "
                             f"vocabulary ({len(vocab)} tokens) than the teacher "
                             f"({len(tokenizer.vocab)}): the student must read the "
                             "teacher's token ids")
        encoder = pretrained.load_encoder(config.student_checkpoint)
    num_student = encoder.bert_config.num_hidden_layers
    layers = config.teacher_layers or spread_layers(num_student, num_teacher)
    if len(layers) != num_student or layers[-1] >= num_teacher:
        raise ValueError(f"teacher_layers {layers} must name {num_student} of the "
                         f"teacher's {num_teacher} layers, one per student layer")
    return encoder, layers


def copy_head(teacher_model, student_model):
    """Copies the weights of the teacher's layers outside its encoder (the task head) to
    the student's layers of the same names."""
    teacher_encoder = find_encoder(teacher_model)
    for layer in teacher_model.layers:
        if layer is not teacher_encoder and layer.weights:
            student_model.get_layer(layer.name).set_weights(layer.get_weights())
