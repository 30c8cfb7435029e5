"""Argument-count and keyword checks at the binding boundary.

The native functions take every argument as a Python object and validate its type and
value themselves (``geomkit.<function>: argument '<name>' must be ... (got ...)``). What
they cannot see is a call that does not fit their parameter list: too many positional
arguments, an unknown keyword, a missing argument, or one given twice. pybind11 answers
those with its "incompatible function arguments" TypeError, which prints the whole array
and names no argument. :func:`checked` wraps a native function so that such a call raises
a TypeError in geomkit's form instead. A call that fits costs one Python frame; the
signature is read from pybind11's docstring once, at import.
"""

from __future__ import annotations

import functools
import inspect
import re

_INCOMPATIBLE = re.compile(r"incompatible (?:function|constructor) arguments")
_SIGNATURE_LINE = re.compile(r"^\s*(?:\d+\.\s*)?[\w.]+\((?P<params>.*)\)\s*->")


def _short(value) -> str:
    """repr(value), cut to 60 characters (an argument may be a huge array)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not replace our message
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _split_params(text: str) -> list[str]:
    """Top-level comma split of a pybind11 parameter list (defaults may hold brackets)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


class _Default:
    """A default as pybind11 prints it (shown by inspect.signature and help())."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self):
        return self.text


def parameters_from_doc(doc: str | None) -> list[tuple[str, object, bool]] | None:
    """[(name, default, keyword_only), ...] from the first line of a pybind11 docstring,
    without ``self`` (default: False when there is none, else the default's text); None
    when the docstring has no single signature (e.g. overloads)."""
    if not doc:
        return None
    match = _SIGNATURE_LINE.match(doc.splitlines()[0])
    if not match:
        return None
    out, keyword_only = [], False
    for part in _split_params(match.group("params")):
        if part == "/":
            continue
        if part == "*":
            keyword_only = True
            continue
        name = part.split(":", 1)[0].split("=", 1)[0].strip()
        if name == "self":
            continue
        if not name.isidentifier():
            return None
        out.append((name, _Default(part.split("=", 1)[1].strip()) if "=" in part else False, keyword_only))
    return out


def _kw_only(param) -> bool:
    return len(param) > 2 and bool(param[2])


def _shown(function: str, forms) -> str:
    """f(a, b=..., *, c=...) for each form, joined by ' or '."""
    out = []
    for ps in forms:
        items, star = [], False
        for p in ps:
            if _kw_only(p) and not star:
                items.append("*")
                star = True
            items.append(p[0] + ("=..." if p[1] is not False else ""))
        out.append(f"{function.split('.')[-1]}({', '.join(items)})")
    return " or ".join(out)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def arity_message(function: str, forms: list[list[tuple[str, object]]], args: tuple, kwargs: dict) -> str:
    """The geomkit-form message for a call that fits none of `forms` (parameter lists of
    (name, default[, keyword_only]), default False when the parameter has none)."""
    prefix = f"geomkit.{function}: "
    shown = _shown(function, forms)
    names = {p[0] for ps in forms for p in ps}
    most = max(len([p for p in ps if not _kw_only(p)]) for ps in forms)
    for key, value in kwargs.items():
        if key not in names:
            return (prefix + f"argument '{key}' is not a parameter: expected {shown} "
                    f"(got {key}={_short(value)})")
    if len(args) > most:
        return (prefix + f"argument {most + 1} (positional) is not a parameter: expected at most "
                f"{_plural(most, 'positional argument')}, {shown} (got {_plural(len(args), 'positional argument')})")
    # Report against the shortest form that can take what was given.
    given = len(args) + len(kwargs)
    ps = min((ps for ps in forms if len(ps) >= given), key=len, default=max(forms, key=len))
    for (name, *_), _value in zip([p for p in ps if not _kw_only(p)], args):
        if name in kwargs:
            return (prefix + f"argument '{name}' was given twice, by position and as a keyword "
                    f"(got {name}={_short(kwargs[name])})")
    for i, (name, has_default, *_) in enumerate(ps):
        if has_default is False and i >= len(args) and name not in kwargs:
            got = ", ".join([_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()])
            return prefix + f"argument '{name}' is missing: expected {shown} (got {function.split('.')[-1]}({got}))"
    got = ", ".join([type(a).__name__ for a in args] + [f"{k}={type(v).__name__}" for k, v in kwargs.items()])
    return prefix + f"arguments do not fit: expected {shown} (got argument types {got})"


def _signature(forms) -> inspect.Signature | None:
    if len(forms) != 1:
        return None
    return inspect.Signature([
        inspect.Parameter(p[0], kind=(inspect.Parameter.KEYWORD_ONLY if _kw_only(p)
                                      else inspect.Parameter.POSITIONAL_OR_KEYWORD),
                          default=(p[1] if p[1] is not False else inspect.Parameter.empty)) for p in forms[0]])


def checked(native, function: str, forms: list[list[tuple[str, object]]] | None = None, *, method: bool = False):
    """`native` whose pybind11 arity errors become geomkit-form TypeErrors.

    function: the public name ("pentachoron_cv", "RunningStats.merge"); forms: the
    accepted parameter lists (read from the docstring when None); method: the wrapper is
    a method (its first argument is self, which the forms do not list)."""
    if forms is None:
        params = parameters_from_doc(native.__doc__)
        if params is None:
            raise ValueError(f"geomkit: no single signature in the docstring of {function}")
        forms = [params]

    if method:
        @functools.wraps(native)
        def wrapper(self, *args, **kwargs):
            try:
                return native(self, *args, **kwargs)
            except TypeError as e:
                if not _INCOMPATIBLE.search(str(e)):
                    raise
                message = arity_message(function, forms, args, kwargs)
            raise TypeError(message) from None
    else:
        @functools.wraps(native)
        def wrapper(*args, **kwargs):
            try:
                return native(*args, **kwargs)
            except TypeError as e:
                if not _INCOMPATIBLE.search(str(e)):
                    raise
                message = arity_message(function, forms, args, kwargs)
            raise TypeError(message) from None

        wrapper.__module__ = "geomkit"  # pickles by reference as geomkit.<name>
        wrapper.__qualname__ = function
        sig = _signature(forms)
        if sig is not None:
            wrapper.__signature__ = sig
    wrapper.__wrapped_native__ = native
    return wrapper
