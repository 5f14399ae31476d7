"""One module per CLI command: each exposes ``HELP``, ``add_arguments(parser)``
and ``run(args) -> int``. The CLI imports a command only when it runs, so
``mbmicro models`` does not pay for importing TVM."""

#: command name -> module name inside mbmicro.commands
COMMANDS = {
    "models": "models",
    "show": "show",
    "export-onnx": "export_onnx",
    "reference": "reference",
    "targets": "targets",
    "boards": "boards",
    "build": "build",
    "run": "run",
    "verify": "verify",
    "evaluate": "evaluate",
    "profile": "profile",
    "flash": "flash",
    "demo": "demo",
    "tune": "tune",
    "tune-worker": "tune_worker",
}
