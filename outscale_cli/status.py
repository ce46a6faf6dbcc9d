"""The exit codes: the one table every failure maps to (README: "Exit codes")."""

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    INTERNAL = 1  # a bug: the only status that may show a traceback, and only with --debug
    USAGE = 2  # bad flags, values or input, empty prompt
    CONFIG = 3  # no server URL, no model, a bad setting
    CONNECTION = 4  # refused, DNS, TLS
    TIMEOUT = 5  # the server stayed silent too long
    HTTP_ERROR = 6  # the server answered with an error status (after retries)
    BAD_RESPONSE = 7  # the answer was malformed or the stream broke off
    MODEL_NOT_SERVED = 8  # ping: the server answers but does not serve the model
    PARTIAL = 9  # batch: the run finished, but some records hold errors
    OUTPUT_FAILED = 10  # stdout could not be written (closed, full, an I/O error)
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
    TERMINATED = 143  # SIGTERM
