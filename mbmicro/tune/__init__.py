"""Stage 9, tune: search each kernel's knob space, measured bit-exact on the target's simulator (docs/TUNING.md)."""
