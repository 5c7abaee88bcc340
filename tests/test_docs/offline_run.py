"""Run a Python file with the network off: ``python offline_run.py SCRIPT``.

Connections to anything but this machine fail (``OSError``), as do name lookups of other
hosts, so a snippet that would download something fails instead of depending on the network.
The docs tests also set ``HF_HUB_OFFLINE=1``, so huggingface_hub reads only its cache.
"""
import runpy
import socket
import sys

LOCAL = ('localhost', '127.0.0.1', '::1', '0.0.0.0', '')


def _refuse(host):
    raise OSError(f'network access is off in the docs tests (tried {host!r})')


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


def _host(address):
    return address[0] if isinstance(address, tuple) else address


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and _host(address) not in LOCAL:
        _refuse(_host(address))
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and _host(address) not in LOCAL:
        _refuse(_host(address))
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host not in LOCAL and host is not None:
        _refuse(host)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.getaddrinfo = getaddrinfo

if __name__ == '__main__':
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name='__main__')
