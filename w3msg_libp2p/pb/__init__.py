"""Generated protobuf modules (built from proto/ by setup.py; never edited by hand)."""
