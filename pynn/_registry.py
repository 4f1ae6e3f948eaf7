"""One shape for every name → implementation table.

Activations, losses, optimisers, schedules and activity penalties are each a
``Registry``: a read-only mapping from a name to an entry (a spec record or
a class), with one lookup that accepts an entry or a name and, for an
unknown name, raises a ValueError that names the argument and lists the
valid names.  Classes join a registry by themselves: a base class calls
``registry.register(cls)`` from ``__init_subclass__`` for every subclass
that sets a ``name``.
"""
from collections.abc import Mapping


class Registry(Mapping):
    """Name → entry, in registration order.

    Parameters
    ----------
    kind : str
        What the entries are, for messages ("activation", "loss", …).
    argument : str
        The argument name that error messages cite (default: ``kind``).
    """

    def __init__(self, kind, argument=None):
        self.kind = kind
        self.argument = argument or kind
        self._entries = {}

    def register(self, entry, name=None):
        """Add ``entry`` under ``name`` (default ``entry.name``); returns it."""
        name = entry.name if name is None else name
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name, default=None):
        return self._entries.get(name, default) if isinstance(name, str) \
            else default

    def lookup(self, name, argument=None):
        """The entry for ``name``; ValueError naming the argument otherwise."""
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        raise ValueError(f"unknown {argument or self.argument} {name!r}; "
                         f"valid names: {', '.join(sorted(self._entries))}")

    def __getitem__(self, name):
        return self._entries[name]

    def __iter__(self):
        return iter(self._entries)

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return f"Registry({self.kind}: {', '.join(self._entries)})"
