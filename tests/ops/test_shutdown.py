"""A web process that does not finish stopping after SIGTERM exits on its own, saying what it
waited for (chatbot/ops/shutdown.py): run in a process of its own, since it really exits."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import asyncio, logging, sys
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s\\n%(stack)s", defaults={"stack": ""}))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    from chatbot.ops.shutdown import exit_stuck_shutdown

    async def never_stops():
        await asyncio.Event().wait()

    async def main():
        asyncio.create_task(never_stops())
        asyncio.get_running_loop().call_later(0.2, exit_stuck_shutdown, 0.2)
        await asyncio.sleep(30)
        print("still running")

    asyncio.run(main())
    """
)


def test_a_shutdown_that_does_not_end_exits_with_where_each_task_waited(tmp_path):
    script = tmp_path / "stuck.py"  # a file, so that the stacks show its lines
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert done.returncode == 1, done.stderr
    assert "still running" not in done.stdout
    assert "never_stops" in done.stdout and "await asyncio.Event().wait()" in done.stdout
    assert "not done 0 s after SIGTERM, exiting" in done.stdout
