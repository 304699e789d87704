"""The former name of :mod:`fastrnn.optim`, kept because estimators pickled before the
rename refer to their optimizer's class by this module."""

from fastrnn.optim import SGD, Adam, RMSprop

__all__ = ["SGD", "Adam", "RMSprop"]
