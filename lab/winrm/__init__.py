"""The lab's WinRM listeners: WS-Management and PSRP (through psrpcore) over HTTP(S).

`HostListener` serves one simulated host; `lab.running.start_lab` starts one per host of a
world. The simulated PowerShell itself is a `lab.pipeline.CommandRunner`.
"""

from lab.winrm.auth import Accounts
from lab.winrm.server import HostListener
from lab.winrm.tls import CertificateAuthority

__all__ = ["Accounts", "CertificateAuthority", "HostListener"]
