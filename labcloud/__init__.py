"""labcloud: a job platform for scientists (the `labcloud` command lives in `labcloud.cli`)."""

__version__ = "0.1.0"
