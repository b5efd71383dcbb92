"""The historical clean-up (清查): the whole book of policy snapshots through the same rules and
cross-policy detectors as the worker, into correction worklists and a report."""
