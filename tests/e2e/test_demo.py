"""`hvbot demo` tells its whole story through Slack, and every step behaves as the story says."""

from __future__ import annotations

import io
import re

from bot.demo import run_demo


def test_demo_story() -> None:
    out = io.StringIO()
    assert run_demo(out, time_scale=0.005) == 0
    text = out.getvalue()
    assert "HV-SRV03 has no virtual switch 'vSwitch-Backup'" in text
    assert "-Vhds @(@{SourceFilePath" in text
    assert "AmbiguousParameterSet,Microsoft.HyperV.PowerShell.Commands.MoveVM" in text
    assert "contains '*', which Get-VM treats as a wildcard" in text
    assert "did you mean HV-SRV03?" in text
    assert "You cannot approve your own request #1." in text
    assert "approval 1 of 2 from @bob" in text
    assert "SRV-APP01 is now on HV-SRV02: request #1 succeeded in" in text
    assert "0x8009030E" in text
    assert "Request #3 (SRV-DB01) failed after" in text and "Fix:" in text
    assert "Drain #4: HV-SRV01 is empty: 2 VMs moved in" in text
    assert "-Name 'SRV-TEST01' -DestinationHost 'HV-SRV02.lab.local' -IncludeStorage" in text
    assert "(only @alice sees this)" in text and "(also sent to #hvops)" in text
    assert re.search(r"\n {4}\s+@alice ┃ @hvbot migrate SRV-DB01", text)
    assert "watch the channel at http://127.0.0.1:" in text
    assert "Traceback" not in text
    assert "Lab-Passw0rd!" not in text
    assert re.search(r"hash chain: \d+ events, intact", text)
