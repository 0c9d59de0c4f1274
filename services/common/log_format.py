"""How the long-running processes (the services' hosts, the registry worker) write their logs."""

LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"  # the format faust's workers wrote
LOG_LEVELS = ("debug", "info", "warning", "error")  # what --loglevel takes
