"""One exception type for every mistake a user can make.

The CLI turns a UserError into a single line on stderr and exit code 2, so
every check on user input raises this (never a bare ValueError) with a message
that names the problem and the fix.
"""


class UserError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""
