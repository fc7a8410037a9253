"""Bokeh's property defaults looked up once per model class instead of on every read.

Bokeh works a property's default out again each time an unset property is read: the class's
overrides, a copy of the default, its validation. Building a page reads them over and over
(every walk over the models for references, for serialisation, for validation): measured on
the waveform page (238 models), half of the 0.7 s of CPU a page took to build, validate and
serialise, held under the GIL the event loop waits for. A default that is immutable (None, a
number, a string, a tuple of these) is the same value every time for a class, so it is kept per
(class, property) here. Anything else (themed values, containers, defaults made by a function,
or any other object) goes Bokeh's own way. `install` patches Bokeh's descriptor; the documents
built are the same (tests/test_model_defaults.py compares them).
"""

from __future__ import annotations

from typing import Any

from bokeh.core.property.descriptors import PropertyDescriptor
from bokeh.core.property.singletons import IntrinsicType, UndefinedType

_BOKEH_GET_DEFAULT = PropertyDescriptor._get_default
_IMMUTABLE = (type(None), bool, int, float, str, UndefinedType, IntrinsicType)  # singletons too
# (model class, property name) -> its immutable default
_KEPT: dict[tuple[type, str], Any] = {}


def _immutable(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_immutable(v) for v in value)
    return isinstance(value, _IMMUTABLE)


def _get_default(self: PropertyDescriptor, obj: Any) -> Any:
    """Bokeh's `PropertyDescriptor._get_default`, with immutable class defaults kept."""
    name = self.name
    themed = obj.themed_values()
    if themed is not None and name in themed:
        return _BOKEH_GET_DEFAULT(self, obj)
    if name in obj._unstable_default_values:
        return obj._unstable_default_values[name]
    key = (obj.__class__, name)
    try:
        return _KEPT[key]
    except KeyError:
        pass
    value = _BOKEH_GET_DEFAULT(self, obj)
    if name not in obj._unstable_default_values and _immutable(value):
        _KEPT[key] = value
    return value


def install() -> None:
    """Keep immutable defaults from now on (idempotent)."""
    PropertyDescriptor._get_default = _get_default


def uninstall() -> None:
    """Back to Bokeh's own lookup (and forget what was kept)."""
    PropertyDescriptor._get_default = _BOKEH_GET_DEFAULT
    _KEPT.clear()
