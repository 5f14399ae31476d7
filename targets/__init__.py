"""Stage 6, targets: one folder per core with its description, startup and linker script.

Shipped as mbmicro.targets. target.py loads target.json; budgets.py checks a model against the
target's SRAM and flash.
"""
