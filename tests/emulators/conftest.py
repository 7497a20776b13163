"""Fixtures shared by the emulator tests."""

from tests.emulators.waffo_support import merchant_key, receiver, waffo, waffo_config, waffo_key

__all__ = ["merchant_key", "receiver", "waffo", "waffo_config", "waffo_key"]
