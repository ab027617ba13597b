"""What every interop script shares: numbered checks, free loopback ports and
bounded waits."""

import socket
import time

checks = 0


def check(cond, what):
    """Count a passed check and print it TAP-style; raise on a failed one."""
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1
    print(f"ok {checks} - {what}", flush=True)


def passed():
    """How many checks have passed so far."""
    return checks


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout, what, every=0.05):
    """Poll `pred` until it returns something truthy (returned), at most `timeout` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def meter_device(name, port, poll="500ms"):
    """A [[device]] section for one f32 voltage (unit V) at 30001 of unit 1 on
    the simulator at `port`: the device a reload adds in the interop tests."""
    return f"""
[[device]]
name = "{name}"
protocol = "tcp"
host = "127.0.0.1:{port}"
unit = 1
poll = "{poll}"
  [[device.tag]]
  name = "voltage"
  address = "30001"
  type = "f32"
  unit = "V"
"""
