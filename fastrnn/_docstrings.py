"""numpydoc docstrings completed from shared entries, at a definition.

fastrnn's estimators share most parameters, fitted attributes and method
arguments, and describe them in the same words: each description is written
once (in a table of entries) and :func:`complete_docstring` puts it into each
class's or method's ``__doc__``. Sphinx autodoc and numpydoc read the finished
``__doc__``.
"""

import inspect
import string


def entries(text):
    """``{name: entry}`` of numpydoc entries (``name : type`` and its indented description)."""
    found, name = {}, None
    for line in text.strip("\n").splitlines():
        if line and not line[0].isspace():
            name = line.split(" : ")[0]
            found[name] = line
        else:  # a line of the description of the entry above
            found[name] += "\n" + line
    return found


def _section(lines, title):
    """Where the entries of the section ``title`` lie in a docstring's ``lines``.

    Returns ``(start, end, indent, found)``: ``lines[start:end]`` are the entries,
    each line prefixed by ``indent``. A docstring without the section gets an empty
    one (``found`` False) before its first section, where numpydoc puts "Parameters".
    """
    titles = [i for i in range(len(lines) - 1) if set(lines[i + 1].strip()) == {"-"}]
    if not titles:
        raise ValueError("a docstring without sections has no place for entries")
    for n, i in enumerate(titles):
        if lines[i].strip() == title:
            end = titles[n + 1] if n + 1 < len(titles) else len(lines)
            while not lines[end - 1].strip():
                end -= 1
            return i + 2, end, lines[i][: -len(lines[i].lstrip())], True
    first = lines[titles[0]]
    return titles[0], titles[0], first[: -len(first.lstrip())], False


def entries_of(cls):
    """``{name: entry}`` of the "Parameters" and "Attributes" sections of ``cls.__doc__``."""
    if cls.__doc__ is None:  # python -OO drops docstrings
        return {}
    lines, found = cls.__doc__.split("\n"), {}
    for title in ("Parameters", "Attributes"):
        start, end, indent, _ = _section(lines, title)
        found.update(entries("\n".join(line[len(indent) :] for line in lines[start:end])))
    return found


def complete_docstring(*sources, attributes=(), notes=None, **words):
    """A decorator that completes the "Parameters" section of a function's or class's
    ``__doc__`` and, given ``attributes``, its "Attributes" section.

    "Parameters" lists the function's parameters (a class's: its ``__init__``'s), in
    the signature's order; "Attributes" the names in ``attributes``, in their order.
    Each entry is the one the docstring writes itself, or else the first found in
    ``sources`` (mappings of name to entry), each ``$word`` in it replaced by the
    keyword argument of that name. ``notes`` maps names to entries whose first line is
    the bare name; their further lines are added to the end of that name's entry. A
    name without an entry, or an entry of the docstring's that names none, is an error
    at import.
    """

    def complete(lines, title, names, where):
        start, end, indent, found = _section(lines, title)
        own = entries("\n".join(line[len(indent) :] for line in lines[start:end]))
        if set(own) - set(names):
            raise TypeError(f"{where} describes no {title.lower()} {sorted(set(own) - set(names))}")
        section = []
        for name in names:
            entry = own.get(name)
            if entry is None:
                found_in = [source for source in sources if name in source]
                if not found_in:
                    raise TypeError(f"{where} does not describe {name!r}")
                entry = string.Template(found_in[0][name]).substitute(words)
            if notes and name in notes:
                entry += notes[name][len(name) :]
            section += [indent + line if line else line for line in entry.split("\n")]
        if not found:
            section = [indent + title, indent + "-" * len(title), *section, ""]
        return lines[:start] + section + lines[end:]

    def decorate(obj):
        if obj.__doc__ is None:  # python -OO drops docstrings
            return obj
        signature = inspect.signature(obj.__init__ if isinstance(obj, type) else obj)
        params = [name for name in signature.parameters if name != "self"]
        lines = complete(obj.__doc__.split("\n"), "Parameters", params, obj.__qualname__)
        if attributes:
            lines = complete(lines, "Attributes", attributes, obj.__qualname__)
        obj.__doc__ = "\n".join(lines)
        return obj

    return decorate
