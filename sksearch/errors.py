"""The error users see: a message, exit code 2, no traceback."""


class UserError(Exception):
    """Bad input from the user (a file, a key, a value); the CLI prints it and exits with 2."""
