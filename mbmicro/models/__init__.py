"""Stage 3, models: built-in Table A models and the user's model options.

specs.py: Table A; details.py: per-model paper details (docs/MODELS.md); options.py: the
checked options; builder.py: the float graph with seeded weights.
"""
