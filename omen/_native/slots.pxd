# Building instances of the domain's slots dataclasses without running their __init__ (shared,
# inline, by textmatch.pyx and decision.pyx; there is no slots module to import).
#
# A dataclass(slots=True) instance is its object header and one PyObject* per field, at the
# offsets its member descriptors record. The generated __init__ does nothing but store each
# argument in its slot, through one Python frame per object: a fifth of a microsecond, paid
# some twenty times per emitted signal. layout_make() allocates the instance as type.__call__
# would (tp_alloc: zeroed, tracked by the collector) and stores the same references in the same
# slots, so the object is indistinguishable from one the class built. layout_init() accepts a
# class only when that is provably all its __init__ does (a dataclass-generated __init__, every
# field an init field stored in a member slot, no __post_init__, no __new__ of its own);
# otherwise layout_make() calls the class.
#
# A layout made with `acyclic=True` also takes each instance out of the cycle collector's view,
# as CPython does for a tuple that holds only atomic values. It is for the domain's value objects:
# each field holds a str, a number, an enum member, None, or (a tuple of) values of the same
# kind, all built before the instance and none able to refer back to it, so an instance can
# never be part of a reference cycle and the collector gains nothing by traversing it. Every
# emitted signal keeps some thirty of them alive in the index, and traversing them (one cache
# miss per field) was most of the collector's cost. Reference counting still frees every one;
# should one be mutated into a cycle after all, the cost is a leak, never a crash.

from cpython.object cimport Py_TYPE, PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char *name
        int type
        Py_ssize_t offset
        int flags
        const char *doc
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
    # A new reference (Cython owns it), or NULL with an exception set.
    object PyType_GenericAlloc(PyTypeObject *type, Py_ssize_t nitems)
    int T_OBJECT_EX
    void PyObject_GC_UnTrack(void *op)
    int PyObject_IS_GC(object obj)
    int PyObject_GC_IsTracked(object obj)
    int READONLY


cdef enum:
    MAX_SLOTS = 32


ctypedef struct Layout:
    PyObject *cls          # a borrowed reference: the caller keeps the class alive
    bint fast              # False: layout_make() calls the class
    bint acyclic           # untrack instances: they can never be part of a cycle
    Py_ssize_t n
    Py_ssize_t offsets[MAX_SLOTS]


cdef inline int layout_init(Layout *layout, object cls, bint acyclic=False) except -1:
    import dataclasses
    import types

    layout.cls = <PyObject *>cls
    layout.fast = False
    layout.acyclic = acyclic
    fields = dataclasses.fields(cls)
    layout.n = len(fields)
    init = cls.__dict__.get("__init__")
    if (
        layout.n > MAX_SLOTS
        or not isinstance(init, types.FunctionType)
        or init.__code__.co_filename != "<string>"  # written by dataclasses, not by hand
        or hasattr(cls, "__post_init__")
        or cls.__new__ is not object.__new__
        or tuple(cls.__slots__) != tuple([f.name for f in fields])
        or not all([f.init for f in fields])
    ):
        return 0
    cdef Py_ssize_t i
    cdef PyMemberDef *member
    for i in range(layout.n):
        descriptor = cls.__dict__.get(fields[i].name)
        if type(descriptor) is not types.MemberDescriptorType:
            return 0
        member = (<PyMemberDescrObject *><PyObject *>descriptor).d_member
        if member.type != T_OBJECT_EX or member.flags & READONLY:
            return 0
        layout.offsets[i] = member.offset
    layout.fast = True
    return 0


cdef inline object layout_make(Layout *layout, tuple values):
    """cls(*values), for a tuple of every field's value in field order."""
    cdef Py_ssize_t i
    cdef PyObject *value
    if not layout.fast or PyTuple_GET_SIZE(values) != layout.n:
        return (<object>layout.cls)(*values)
    obj = PyType_GenericAlloc(<PyTypeObject *>layout.cls, 0)
    cdef char *base = <char *><PyObject *>obj
    for i in range(layout.n):
        value = PyTuple_GET_ITEM(values, i)
        Py_INCREF(<object>value)
        (<PyObject **>(base + layout.offsets[i]))[0] = value
    if layout.acyclic:
        PyObject_GC_UnTrack(<void *>base)
    return obj


cdef inline object layout_make_array(Layout *layout, PyObject **values, Py_ssize_t n):
    """layout_make() of the n borrowed references values[0..n), without a tuple of them: the
    fields are stored straight from the caller's array (a tuple per object built is an
    allocation and a deallocation, some twenty times per signal)."""
    cdef Py_ssize_t i
    if not layout.fast or n != layout.n:
        return layout_make(layout, tuple([<object>values[i] for i in range(n)]))
    obj = PyType_GenericAlloc(<PyTypeObject *>layout.cls, 0)
    cdef char *base = <char *><PyObject *>obj
    for i in range(n):
        Py_INCREF(<object>values[i])
        (<PyObject **>(base + layout.offsets[i]))[0] = values[i]
    if layout.acyclic:
        PyObject_GC_UnTrack(<void *>base)
    return obj


cdef inline object layout_make2(Layout *layout, object a, object b):
    cdef PyObject *values[2]
    values[0], values[1] = <PyObject *>a, <PyObject *>b
    return layout_make_array(layout, values, 2)


cdef inline object layout_make3(Layout *layout, object a, object b, object c):
    cdef PyObject *values[3]
    values[0], values[1], values[2] = <PyObject *>a, <PyObject *>b, <PyObject *>c
    return layout_make_array(layout, values, 3)


cdef inline object layout_make4(Layout *layout, object a, object b, object c, object d):
    cdef PyObject *values[4]
    values[0], values[1], values[2], values[3] = (
        <PyObject *>a, <PyObject *>b, <PyObject *>c, <PyObject *>d
    )
    return layout_make_array(layout, values, 4)


cdef inline object layout_make5(Layout *layout, object a, object b, object c, object d,
                                object e):
    cdef PyObject *values[5]
    values[0], values[1], values[2], values[3], values[4] = (
        <PyObject *>a, <PyObject *>b, <PyObject *>c, <PyObject *>d, <PyObject *>e
    )
    return layout_make_array(layout, values, 5)


cdef inline tuple untracked_tuple(object items):
    """tuple(items), untracked when every item is atomic or untracked itself: the test the
    collector applies to each tuple it traverses (and untracks it after), made once at birth
    instead of on every collection the tuple survives until then."""
    cdef tuple result = tuple(items)
    for item in result:
        if PyObject_IS_GC(item) and PyObject_GC_IsTracked(item):
            return result
    PyObject_GC_UnTrack(<void *><PyObject *>result)
    return result


# --- Reading slots ------------------------------------------------------------------------------
#
# The same layout the other way round (shared by decision.pyx and signalwire.pyx): a field of a
# slots dataclass instance is one PyObject* at the offset its member descriptor records. A
# Python attribute read goes through the type's lookup cache, the descriptor and PyMember_GetOne;
# get() loads the pointer itself when the object is exactly the class the offset was taken from,
# and falls back to getattr() otherwise (a subclass, a duck-typed object, a class whose field is
# not a plain member slot, an unset slot), so what it returns is always what the attribute read
# would return.

ctypedef struct Field:
    PyTypeObject *cls   # borrowed (the module holding the Field keeps cls alive); NULL: getattr()
    Py_ssize_t offset   # of the field's member slot in an instance of cls
    PyObject *name      # borrowed: kept alive by the `names` list given to field_of()


cdef inline Field field_of(object cls, str name, list names, dict direct) except *:
    """The Field for cls.<name>. `names` keeps the (interned) name alive; `direct` records
    whether reads take the direct path ("Class.field" -> bool, for the modules' tests)."""
    import sys
    import types

    cdef Field f
    cdef PyMemberDef *member
    f.cls = NULL
    f.offset = -1
    name = sys.intern(name)
    names.append(name)
    f.name = <PyObject *>name
    descriptor = cls.__dict__.get(name)
    if (
        type(descriptor) is types.MemberDescriptorType
        and cls.__getattribute__ is object.__getattribute__
    ):
        member = (<PyMemberDescrObject *><PyObject *>descriptor).d_member
        if member.type == T_OBJECT_EX:
            f.cls = <PyTypeObject *>cls
            f.offset = member.offset
    direct[f"{cls.__name__}.{name}"] = f.cls is not NULL
    return f


cdef inline object get(object obj, const Field *f):
    """getattr(obj, f.name), read straight from the slot when obj is exactly f.cls."""
    cdef PyObject *value
    if Py_TYPE(obj) is f.cls:  # never true when f.cls is NULL
        value = (<PyObject **>(<char *><PyObject *>obj + f.offset))[0]
        if value is not NULL:
            return <object>value
    return slot_getattr(obj, f)


cdef inline object slot_getattr(object obj, const Field *f):
    return getattr(obj, <object>f.name)
