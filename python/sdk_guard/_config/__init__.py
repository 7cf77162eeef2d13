"""Helpers every policy section parser shares: validators (validate.py) and the
template expander (templates.py)."""
