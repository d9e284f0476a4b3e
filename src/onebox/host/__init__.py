"""The host layer: the only code that touches the operating system (processes, names, networks, engines)."""
