"""Optimisers (``torch.optim``'s names and update rules) and learning-rate schedules."""
from lumen.optim import lr_scheduler
from lumen.optim.adam import Adam, Adamax, AdamW, NAdam, RAdam
from lumen.optim.adaptive import Adadelta, Adagrad, RMSprop
from lumen.optim.asgd import ASGD
from lumen.optim.lbfgs import LBFGS
from lumen.optim.optimizer import Optimizer
from lumen.optim.rprop import Rprop
from lumen.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta",
           "ASGD", "LBFGS", "Rprop", "lr_scheduler", "caffe_param_groups"]


def caffe_param_groups(model, lr: float, weight_decay: float, bias_lr_mult: float = 2.0,
                       bias_decay_mult: float = 0.0) -> list[dict]:
    """Parameter groups expressing Caffe's per-blob ``lr_mult``/``decay_mult``.

    Returns ``[{"params": weights, "lr": lr, "weight_decay": weight_decay},
    {"params": biases, "lr": lr * bias_lr_mult, "weight_decay": weight_decay * bias_decay_mult}]``
    where biases are the parameters whose name ends in "bias". Parameters with
    ``requires_grad=False`` (Caffe's ``lr_mult: 0``, e.g. FCN's fixed bilinear
    deconvolutions) are left out; empty groups are dropped. The defaults are
    the usual Caffe prototxt setting (bias: ``lr_mult 2, decay_mult 0``)::

        opt = lumen.optim.SGD(caffe_param_groups(net, 1e-10, 5e-4), lr=1e-10, momentum=0.99)
    """
    weights, biases = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (biases if name.rsplit(".", 1)[-1] == "bias" else weights).append(p)
    groups = [{"params": weights, "lr": lr, "weight_decay": weight_decay},
              {"params": biases, "lr": lr * bias_lr_mult, "weight_decay": weight_decay * bias_decay_mult}]
    return [g for g in groups if g["params"]]
