"""The ``hwrag`` command."""
