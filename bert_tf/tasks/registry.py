"""The one registry of tasks, by name: `bert-finetune --task`, `TaskModel.from_pretrained
(task=...)`, `load_task` and the benchmarks look tasks up here.

A task named N is the folder (package) `bert_tf/tasks/N/`, whose `__init__` registers
it (`@register_task` on its Task class); `get_task_class` imports it on first use, and
`task_names` finds every such folder, so adding a task changes no list. A task outside
bert_tf registers itself when its module is imported.
"""
import importlib
import os
import pkgutil

_TASKS = {}
_TASKS_DIR = os.path.dirname(os.path.abspath(__file__))


def register_task(cls):
    """Class decorator: makes a Task known by its `name` (`get_task_class`,
    `load_task`, `bert-finetune --task`)."""
    _TASKS[cls.name] = cls
    return cls


def builtin_task_names():
    """The task folders of bert_tf/tasks (each a package named as its task)."""
    return sorted(module.name for module in pkgutil.iter_modules([_TASKS_DIR])
                  if module.ispkg)


def task_names():
    """The registered tasks' names, bert_tf's own included (imported to register them)."""
    for name in builtin_task_names():
        if name not in _TASKS:
            importlib.import_module(f"bert_tf.tasks.{name}")
    return sorted(_TASKS)


def get_task_class(name):
    """The Task class registered as `name`; ValueError naming the known ones."""
    if isinstance(name, str) and name.isidentifier() and name not in _TASKS:
        try:
            importlib.import_module(f"bert_tf.tasks.{name}")
        except ModuleNotFoundError:
            pass  # reported below
    if name not in _TASKS:
        raise ValueError(f"Unknown task {name!r}; known tasks: {task_names()}")
    return _TASKS[name]
