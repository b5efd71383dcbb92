"""Getting PolicyGuard's alerts to the people who act on them: chat bridges for Alertmanager."""
