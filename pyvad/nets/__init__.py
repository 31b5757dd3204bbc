"""Plain :class:`torch.nn.Module` networks, free of training, data and estimator logic.

Import each network from its module, e.g. ``from pyvad.nets.resnet_cifar import resnet34_cifar``.
"""
