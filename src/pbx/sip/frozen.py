"""Immutable value classes that the compiled core can build cheaply.

Why: ``@dataclass(frozen=True)`` sets every field in ``__init__`` with
``object.__setattr__``, and under mypyc the generated ``__init__`` stays interpreted
Python. The core built five such objects per registration (the request URI, the
Contact, the credentials, a binding event, ``Registered``) at about 0.2 µs a field.

The classes that replace them are ``@dataclass(init=False, unsafe_hash=True)``
(``slots=True`` too where nothing subclasses them: mypyc compiles the stores of a
slotted class with subclasses as checked assignments), so equality, hash, repr and
``dataclasses.replace`` stay as they were. Their ``__init__`` is written out, which
mypyc compiles into direct stores, and their ``__setattr__``/``__delattr__`` hand
over to the functions below, so code outside still gets ``FrozenInstanceError``.
Each class defines those two methods itself (the repetition is deliberate):
inherited from a shared base, they would make mypyc compile the stores in
``__init__`` as checked attribute assignments again. Run interpreted (without
``make core``), the same ``__init__`` goes through ``__setattr__``, which lets each
field be set once.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError


def assign_once(obj: object, name: str, value: object) -> None:
    """A frozen class's ``__setattr__``: a field not yet set on the instance may be set
    (only its own ``__init__``, interpreted, does that); anything else raises
    ``FrozenInstanceError``. Compiled, the ``__init__`` never comes here."""
    if name in getattr(type(obj), "__dataclass_fields__", ()):
        state = getattr(obj, "__dict__", None)
        if state is not None:
            unset = name not in state  # a class-level default does not count
        else:
            try:
                object.__getattribute__(obj, name)
                unset = False
            except AttributeError:
                unset = True
        if unset:
            object.__setattr__(obj, name, value)
            return
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def refuse_delete(name: str) -> None:
    """A frozen class's ``__delattr__``."""
    raise FrozenInstanceError(f"cannot delete field {name!r}")
