"""The ``policyguard`` command line."""
