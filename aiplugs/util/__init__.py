"""Small helpers every layer may use: atomic files, process checks, redaction, server-sent events."""
