"""``policyguard demo``: the whole pipeline on the embedded broker, with a built-in scenario."""
