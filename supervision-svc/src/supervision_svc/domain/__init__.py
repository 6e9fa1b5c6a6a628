"""Pure rules of the supervision service: no I/O, no framework imports."""
