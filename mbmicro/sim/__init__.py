"""Stage 8, sim: running what was built.

build_folder.py: the one validating loader of a build folder; execute.py: make in a build folder
and run its program natively or in QEMU; qemu.py: QEMU command lines and the instruction-counting
plugin.
"""
