"""A signal is never lost, however busy the loop's self-pipe is. asyncio's own
add_signal_handler learns of a signal through that pipe, and once completions from other
threads have filled it (10,000 integrations starting at once did), a SIGTERM was dropped
and the daemon never stopped (seen in the scale benchmark; the same scenario with
add_signal_handler loses the signal on CPython 3.11)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

from daemon.app import _signals


def test_a_signal_arriving_while_the_self_pipe_is_full_still_acts() -> None:
    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        arrived = asyncio.Event()

        def flood() -> None:  # what thousands of finished thread-pool jobs do
            for _ in range(300_000):
                loop.call_soon_threadsafe(lambda: None)

        with _signals(loop, {signal.SIGUSR1: arrived.set}):
            worker = threading.Thread(target=flood)
            worker.start()
            worker.join()  # the loop is held here, so nothing drains the pipe
            os.kill(os.getpid(), signal.SIGUSR1)
            try:
                await asyncio.wait_for(arrived.wait(), 10)
            except TimeoutError:
                return False
        return True

    before = signal.getsignal(signal.SIGUSR1)
    assert asyncio.run(scenario())
    assert signal.getsignal(signal.SIGUSR1) is before  # the previous handler is back
