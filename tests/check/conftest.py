"""The checker's tests import their support module (``check_support``) from this directory."""
