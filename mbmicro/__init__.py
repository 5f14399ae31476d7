"""mbmicro: int8 exporter for MBConv CNNs on ARM microcontrollers and application cores."""

__version__ = "0.1.0"
