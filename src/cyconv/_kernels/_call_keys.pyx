"""Keys of validated calls, compiled: a repeated small call spends a good part of its time
building its key, so this runs at C speed (see ``cyconv._validate.call_key`` for the rules)."""
import numpy as np

cdef object _ndarray = np.ndarray
cdef object _NOT_PLAIN = object()
cdef object _BOOL = object()  # tags bools: True == 1 and hash(True) == hash(1)


cdef object _typed(object value):
    """An exact int, str or None as it is, a bool tagged, a tuple of such values as a tuple of
    them: values equal only when they validate the same way - or _NOT_PLAIN."""
    cdef type kind = type(value)
    cdef Py_ssize_t i, n
    cdef bint flat = True
    if kind is int or kind is str or value is None:
        return value
    if kind is bool:
        return (_BOOL, value)
    if kind is not tuple:
        return _NOT_PLAIN
    n = len(<tuple>value)
    for i in range(n):
        if type((<tuple>value)[i]) is not int:
            flat = False
            break
    if flat:
        return value
    out = []
    for item in <tuple>value:
        typed = _typed(item)
        if typed is _NOT_PLAIN:
            return _NOT_PLAIN
        out.append(typed)
    return tuple(out)


def call_key(tuple arrays, tuple args):
    """A hashable key of a call whose validation depends on these alone: plain ndarrays (by
    shape and dtype; None allowed) and plain argument values (exact ints, strings, bools, None,
    tuples of them) - or None when any is not."""
    parts = []
    for a in arrays:
        if type(a) is _ndarray:
            parts.append(a.shape)
            parts.append(a.dtype)
        elif a is None:
            parts.append(None)
        else:
            return None
    typed = _typed(args)
    if typed is _NOT_PLAIN:
        return None
    parts.append(typed)
    return tuple(parts)
