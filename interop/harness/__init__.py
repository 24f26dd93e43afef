"""The interop harness: peer processes of other implementations, our node, and the scenario kinds
that run them against each other (interop/runner.py is the command line)."""
