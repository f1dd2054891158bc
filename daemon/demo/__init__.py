"""`smscore demo`: the simulator and the daemon in one process, telling the mobile-money story."""

from daemon.demo.command import demo

__all__ = ["demo"]
