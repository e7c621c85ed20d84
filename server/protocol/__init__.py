"""The wire protocol as plain data and functions: frames, validation, codecs. No I/O."""
