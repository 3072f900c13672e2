"""The one exception type for user mistakes across hwrag.

Broken invariants stay assertions; anything a user can cause (a bad file, a bad flag, a bad request)
raises :class:`HwragError` with a message naming what was wrong and what is accepted.
"""


class HwragError(Exception):
    """A user-facing error: the message says what was wrong and what is accepted."""
