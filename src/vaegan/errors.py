"""The one exception type the CLI turns into a clean one-line error and a non-zero exit."""


class VaeganError(Exception):
    """A problem the user can fix: the message names the problem and the fix."""
