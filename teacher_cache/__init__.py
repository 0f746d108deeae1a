"""The teacher: situations, plans, options, cached LLM plan tables and the action prior.

    table = teacher_cache.load("SimpleDoorKey")        # the shipped default, or a file path
    pi = teacher_cache.prior(table, observation)       # float32[..., 7], jittable
"""

from teacher_cache.prior import prior
from teacher_cache.table import Table, TableError, load

__all__ = ["Table", "TableError", "load", "prior"]
