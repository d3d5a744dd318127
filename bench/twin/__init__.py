"""The digital-twin bench: fixed vs actuated vs platform signal control, and pre-emption."""
