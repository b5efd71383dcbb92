"""PolicyGuard: streaming validation of life-insurance customer information."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("policyguard")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
