"""How deliveries leave the service: the channels (log, webhook, e-mail) and the worker that
sends pending deliveries through them. Everything here does I/O; the rules it follows are in
`notify_svc.domain`, the state it changes goes through `notify_svc.handlers`.
"""
