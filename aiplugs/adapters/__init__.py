"""One adapter per real thing aiplugs drives: the model store, the proxy, the router, worker processes, a browser."""
