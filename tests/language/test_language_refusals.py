"""Every refusal: one line saying what was wrong and what would work, plus the right usage."""

from __future__ import annotations

import pytest

from commands.language.registry import BY_NAME, GENERAL_USAGE
from commands.requests import MigrateRequest
from support.language import ok, refusal

LONG_PATH = "D:\\" + "\\".join(["folder"] * 40)

# (text, a fragment the message must hold, the subcommand whose usage comes with it)
CASES: list[tuple[str, str, str | None]] = [
    # VM names
    ("SRV* to HV-SRV02", "wildcard", "migrate"),
    ("* to HV-SRV02", "wildcard", "migrate"),
    ("SRV? to HV-SRV02", "'?'", "migrate"),
    ("SRV[1] to HV-SRV02", "'['", "migrate"),
    ("SRV] to HV-SRV02", "']'", "migrate"),
    ("SRV`1 to HV-SRV02", "'`'", "migrate"),
    ('"" to HV-SRV02', "empty", "migrate"),
    ('"SRV\tAPP" to HV-SRV02', "control character", "migrate"),
    ('"SRV\u2028APP" to HV-SRV02', "control character", "migrate"),
    ('"SRV\x07" to HV-SRV02', "control character", "migrate"),
    ("SRV-APP\u202e10 to HV-SRV02", "direction-changing character \\u202e", "migrate"),
    ("SRV\u200d01 to HV-SRV02", "invisible or direction-changing character \\u200d", "migrate"),
    ("SRV\ue000 to HV-SRV02", "\\ue000", "migrate"),
    ("SRV-APP01 to HV-SRV\u202e02", "host name 'HV-SRV\\u202e02' contains", "migrate"),
    ("x" * 4001, "4001 characters long; /migrate takes at most 4000", None),
    ('" SRV" to HV-SRV02', "space", "migrate"),
    ("x" * 101 + " to HV-SRV02", "100", "migrate"),
    ("<@U123> to HV-SRV02", "mention", "migrate"),
    ("<@U123|bob> to HV-SRV02", "mention", "migrate"),
    ('"<@U123>" to HV-SRV02', "mention", "migrate"),
    ("<!here> to HV-SRV02", "mention", "migrate"),
    ("&lt;@U123&gt; to HV-SRV02", "link or mention", "migrate"),
    ("status SRV*", "wildcard", "status"),
    ("history SRV*", "wildcard", "history"),
    ("diagnose SRV*", "wildcard", "diagnose"),
    ("vm SRV* compatibility on", "wildcard", "vm"),
    ("storage SRV* to D:\\VMs", "wildcard", "storage"),
    ("check * to HV-SRV02", "wildcard", "check"),
    # hosts
    ("SRV-APP01 to HV-SRV9", "unknown host 'HV-SRV9'; did you mean HV-SRV0", "migrate"),
    ("SRV-APP01 to HV-SRV9", "Known hosts: HV-SRV01, HV-SRV02, HV-SRV03", "migrate"),
    ("SRV-APP01 to evil.example.com", "unknown host 'evil.example.com'", "migrate"),
    ("SRV-APP01 to 10.0.0.5", "unknown host", "migrate"),
    ("SRV-APP01 to <http://evil.example.com|evil.example.com>", "unknown host", "migrate"),
    ("SRV-APP01 to <@U123>", "mention, not a host", "migrate"),
    ('SRV-APP01 to ""', "host name is empty", "migrate"),
    ("SRV-APP01 to HV-SRV02 from HV-SRV99", "unknown host", "migrate"),
    ("SRV-APP01 to HV-SRV02 from HV-SRV02", "both HV-SRV02", "migrate"),
    ("SRV-APP01 to hv-srv02.lab.local from HV-SRV02", "both HV-SRV02", "migrate"),
    ("host HV-SRV9", "unknown host", "host"),
    ("delegation HV-SRV01 HV-SRV01", "two different hosts", "delegation"),
    ("delegation HV-SRV01 nowhere", "unknown host", "delegation"),
    ("delegation HV-SRV01", "missing the second host", "delegation"),
    ("diagnose SRV-APP01 to HV-SRV7", "unknown host", "diagnose"),
    # missing pieces and structure
    ("SRV-APP01", "missing 'to <host>'", "migrate"),
    (
        "SRV-APP01 HV-SRV02",
        "missing 'to' before 'HV-SRV02': write SRV-APP01 to HV-SRV02",
        "migrate",
    ),
    ("SRV-APP01 to", "missing the destination host", "migrate"),
    ("check SRV-APP01", "missing 'to <host>'", "check"),
    ("check", "missing the VM name", "check"),
    ("storage", "missing the VM name", "storage"),
    ("storage SRV-APP01", "say where", "storage"),
    ("stauts", "did you mean status?", None),
    ("histroy SRV-APP01", "did you mean history?", None),
    ("chekc SRV-APP01 to HV-SRV02", "did you mean check?", None),
    ('"open to HV-SRV02', "unclosed quote", None),
    # options
    ("SRV-APP01 to HV-SRV02 include-storag", "did you mean include-storage?", "migrate"),
    ('SRV-APP01 to HV-SRV02 "include-storage"', "without quotes", "migrate"),
    ("SRV-APP01 to HV-SRV02 --force", "unexpected '--force'", "migrate"),
    ("SRV-APP01 to HV-SRV02 include-storage include-storage", "given twice", "migrate"),
    ("SRV-APP01 to HV-SRV02 from HV-SRV01 from HV-SRV03", "given twice", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:\\a storage-path D:\\b", "given twice", "migrate"),
    ("SRV-APP01 to HV-SRV02 vm-path D:\\a vm-path D:\\b", "given twice", "migrate"),
    ("SRV-APP01 to HV-SRV02 include-storage vm-path D:\\a", "needs storage-path", "migrate"),
    ("SRV-APP01 to HV-SRV02 reason", "missing the text after reason", "migrate"),
    ("SRV-APP01 to HV-SRV02 reason ''", "reason is empty", "migrate"),
    ("SRV-APP01 to HV-SRV02 reason " + "x" * 501, "500", "migrate"),
    ('SRV-APP01 to HV-SRV02 reason "a\x07b"', "control character", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path", "missing the path after storage-path", "migrate"),
    ("storage SRV-APP01 to D:\\a to D:\\b", "given twice", "storage"),
    ("storage SRV-APP01 to D:\\a vhd D:\\x.vhdx to E:\\x.vhdx", "not both", "storage"),
    ("storage SRV-APP01 vhd D:\\x.vhdx to E:\\x.vhdx to D:\\a", "not both", "storage"),
    ("storage SRV-APP01 to D:\\a include-storage", "unexpected 'include-storage'", "storage"),
    ("storage SRV-APP01 to D:\\a from HV-SRV01", "unexpected 'from'", "storage"),
    ("storage SRV-APP01 to D:\\a vm-path D:\\b vm-path D:\\c", "given twice", "storage"),
    ("storage SRV-APP01 vhd D:\\x.vhdx", "missing 'to <destination file>'", "storage"),
    ("storage SRV-APP01 vhd D:\\x.vhdx E:\\x.vhdx", "expected 'to <destination file>'", "storage"),
    ("storage SRV-APP01 vhd D:\\x.vhdx to d:\\X.VHDX", "already there", "storage"),
    ("storage SRV-APP01 vhd D:\\x.vhdx to E:\\x.vhd", "cannot change format", "storage"),
    ("storage SRV-APP01 vhd D:\\x.iso to E:\\x.iso", "not a virtual disk file", "storage"),
    ("storage SRV-APP01 vhd D:\\x.vhdx to E:\\", "not a virtual disk file", "storage"),
    (
        "storage SRV-APP01 vhd D:\\x.vhdx to E:\\x.vhdx vhd d:\\X.vhdx to F:\\x.vhdx",
        "listed twice",
        "storage",
    ),
    (
        "storage SRV-APP01 vhd D:\\x.vhdx to E:\\x.vhdx vhd D:\\y.vhdx to e:\\X.vhdx",
        "cannot both move",
        "storage",
    ),
    (
        "storage SRV-APP01 vhd D:\\x.vhdx to E:\\x.vhdx vhd D:\\y.vhdx to D:\\x.vhdx",
        "another disk lives now",
        "storage",
    ),
    (
        "storage SRV-APP01 vhd D:\\x.vhdx to E:\\x.vhdx vhd E:\\x.vhdx to F:\\x.vhdx",
        "destination of another disk",
        "storage",
    ),
    # paths
    ("SRV-APP01 to HV-SRV02 storage-path VMs\\app", "not absolute", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:", "not absolute", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:VMs", "not absolute", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path \\VMs", "not absolute", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path /var/lib/vms", "not absolute", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path \\\\nas", "lacks a server or share", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path \\\\nas\\", "lacks a server or share", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path \\\\?\\D:\\x", "device path", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path \\\\.\\pipe\\x", "device path", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:\\VMs\\..\\Windows", "'..' segment", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path \\\\nas\\..\\x", "'..' segment", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:\\VMs\\.\\x", "'.' segment", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:\\VMs\\\\x", "empty segment", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:\\VMs\\a:b", "':'", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:\\VMs\\a*", "'*'", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:\\VMs\\a?", "'?'", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:\\VMs\\a|b", "'|'", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:\\VMs\\a&lt;b", "'<'", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:\\VMs\\a&gt;b", "'>'", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path 'D:\\VMs\\a\"b'", "'\"'", "migrate"),
    ('SRV-APP01 to HV-SRV02 storage-path "D:\\VMs\\a\tb"', "control character", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:\\VMs\\CON", "reserved device name", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:\\VMs\\lpt1.txt", "reserved device name", "migrate"),
    ("SRV-APP01 to HV-SRV02 storage-path D:\\VMs\\app.", "ending in a dot", "migrate"),
    (
        'SRV-APP01 to HV-SRV02 storage-path "D:\\VMs\\app \\x"',
        "ending in a dot or space",
        "migrate",
    ),
    ("SRV-APP01 to HV-SRV02 storage-path " + LONG_PATH, "longer than 260", "migrate"),
    ("SRV-APP01 to HV-SRV02 vm-path relative", "not absolute", "migrate"),
    ("storage SRV-APP01 to relative", "not absolute", "storage"),
    ("storage SRV-APP01 vhd x.vhdx to E:\\x.vhdx", "not absolute", "storage"),
    # ids and numbers
    ("cancel", "missing the request id", "cancel"),
    ("cancel SRV-APP01", "cancel takes a request id", "cancel"),
    ('cancel "42"', "cancel takes a request id", "cancel"),
    ("cancel #0", "out of range", "cancel"),
    ("cancel #" + "9" * 19, "out of range", "cancel"),
    ("cancel " + "9" * 3900, "out of range", "cancel"),
    ("cancel #42 now", "unexpected 'now'", "cancel"),
    ("status #42 SRV-APP01", "unexpected", "status"),
    ("status SRV-APP01 extra", "unexpected 'extra'", "status"),
    ("diagnose", "needs a request id", "diagnose"),
    ("diagnose #42 to HV-SRV02", "unexpected 'to'", "diagnose"),
    ("history last", "missing a number after last", "history"),
    ("history last 0", "from 1 to 1000", "history"),
    ("history last 1001", "from 1 to 1000", "history"),
    ("history last -3", "from 1 to 1000", "history"),
    ("history last ５", "from 1 to 1000", "history"),
    ("history last ²", "from 1 to 1000", "history"),
    ("history last 3 last 4", "given twice", "history"),
    ("history SRV-APP01 HV-SRV01", "unexpected 'HV-SRV01'", "history"),
    ("history <@U1>", "mention", "history"),
    # host settings
    ("host", "missing the host name", "host"),
    ("host HV-SRV01 reboot", "expected enable, disable, set, network", "host"),
    ("host HV-SRV01 enabel", "did you mean enable?", "host"),
    ("host HV-SRV01 enable now", "unexpected 'now'", "host"),
    ("host HV-SRV01 set", "missing the setting", "host"),
    ("host HV-SRV01 set max-migration 3", "did you mean max-migrations?", "host"),
    ("host HV-SRV01 set max-migrations", "missing the value of max-migrations", "host"),
    ("host HV-SRV01 set max-migrations 0", "from 1 to 100", "host"),
    ("host HV-SRV01 set max-migrations 101", "from 1 to 100", "host"),
    ("host HV-SRV01 set max-migrations two", "from 1 to 100", "host"),
    ("host HV-SRV01 set max-migrations 2.5", "from 1 to 100", "host"),
    ("host HV-SRV01 set max-storage-migrations -1", "from 1 to 100", "host"),
    ("host HV-SRV01 set auth ntlm", "kerberos|credssp", "host"),
    ("host HV-SRV01 set performance fast", "tcpip|compression|smb", "host"),
    ("host HV-SRV01 set any-network yes", "on or off", "host"),
    ("host HV-SRV01 set auth kerberos performance smb", "one setting per command", "host"),
    ("host HV-SRV01 network", "missing add or remove", "host"),
    ("host HV-SRV01 network list", "expected add, remove", "host"),
    ("host HV-SRV01 network add", "missing the subnet", "host"),
    ("host HV-SRV01 network add 10.0.50.0", "no prefix length", "host"),
    ("host HV-SRV01 network add 10.0.50.1/24", "did you mean 10.0.50.0/24?", "host"),
    ("host HV-SRV01 network add 10.0.50.0/33", "not a valid subnet", "host"),
    ("host HV-SRV01 network add 300.0.0.0/8", "not a valid subnet", "host"),
    ("host HV-SRV01 network add 010.0.0.0/8", "not a valid subnet", "host"),
    ("host HV-SRV01 network add fd00::1/64", "did you mean fd00::/64?", "host"),
    ("host HV-SRV01 network add fe80::%eth0/64", "subnet", "host"),
    ("host HV-SRV01 network add 0.0.0.0/0", "any-network on", "host"),
    ("host HV-SRV01 network add ::/0", "any-network on", "host"),
    ("host HV-SRV01 network add 10.0.0.0/8 priority 0", "from 1 to 10000", "host"),
    ("host HV-SRV01 network add 10.0.0.0/8 priority", "missing a number after priority", "host"),
    ("host HV-SRV01 network add 10.0.0.0/8 priority 1 priority 2", "unexpected", "host"),
    ("host HV-SRV01 network remove 10.0.0.0/8 priority 1", "unexpected 'priority'", "host"),
    ("vm SRV-APP01", "missing 'compatibility on|off'", "vm"),
    ("vm SRV-APP01 compat on", "expected 'compatibility on|off'", "vm"),
    ("vm SRV-APP01 compatibility", "missing on or off", "vm"),
    ("vm SRV-APP01 compatibility true", "on or off", "vm"),
    ("delegation HV-SRV01 HV-SRV02 fix now", "unexpected 'now'", "delegation"),
    ("help nothing", "expected migrate, check, storage", "help"),
    ("help storage now", "unexpected 'now'", "help"),
]

# The slips of a command typed in a hurry: the refusal says what to write instead.
HINTS: list[tuple[str, str, str | None]] = [
    ("SRV-APP01 ot HV-SRV02", "write 'to' instead of 'ot': SRV-APP01 to HV-SRV02", "migrate"),
    ("SRV-APP01 -> hv-srv02", "write 'to' instead of '->': SRV-APP01 to HV-SRV02", "migrate"),
    (
        "/migrate SRV-APP01 hv-srv02.lab.local.",
        "missing 'to' before 'hv-srv02.lab.local.': write SRV-APP01 to HV-SRV02",
        "migrate",
    ),
    ("check SRV-APP01 HV-SRV02", "write SRV-APP01 to HV-SRV02", "check"),
    ("SRV-APP01 elsewhere", "expected 'to <host>' after the VM name", "migrate"),
    ("My App VM to HV-SRV02", 'needs quotes: write "My App VM" to HV-SRV02', "migrate"),
    ("My App VM to", 'needs quotes: write "My App VM" to <host>', "migrate"),
    ("migrate SRV-APP01 to HV-SRV02", "drop 'migrate'", "migrate"),
    (
        "SRV-APP01 from HV-SRV01 to HV-SRV02 reason x",
        "options come after 'to <host>': write SRV-APP01 to HV-SRV02 from HV-SRV01 reason x",
        "migrate",
    ),
    ("check SRV-APP01 include-storage to HV-SRV02", "to HV-SRV02 include-storage", "check"),
    ("to HV-SRV02", "missing the VM name: write <vm> to HV-SRV02", "migrate"),
    (
        "SRV-APP01 and SRV-APP02 to HV-SRV02",
        "one VM per command: write SRV-APP01 to HV-SRV02, then SRV-APP02 to HV-SRV02",
        "migrate",
    ),
    ("SRV-APP01, SRV-APP02 to HV-SRV02", "one VM per command", "migrate"),
    ("SRV-APP01 SRV-APP02 to HV-SRV02", '"SRV-APP01 SRV-APP02" to HV-SRV02', "migrate"),
    ("SRV-APP01 to 10.0.0.12", "'10.0.0.12': name hosts as the inventory does", "migrate"),
    ("SRV-APP01 to [fd00::12]", "not by address", "migrate"),
    ("Move SRV-APP01 to HV-SRV02", "write SRV-APP01 to HV-SRV02", "migrate"),
    (
        "Move-VM -Name SRV-APP01 -DestinationHost hv-srv02 -IncludeStorage",
        "'Move-VM' is PowerShell; hvbot runs it for you: "
        "write /migrate SRV-APP01 to HV-SRV02 include-storage",
        "migrate",
    ),
    (
        'Move-VM "My VM" HV-SRV02 -DestinationStoragePath D:\\VMs',
        'write /migrate "My VM" to HV-SRV02 storage-path D:\\VMs',
        "migrate",
    ),
    ("Move-VM", "write /migrate <vm> to <host>", "migrate"),
    ("Get-VM SRV-APP01", "'Get-VM' is PowerShell, not a /migrate command", "migrate"),
    ("web-vm HV-SRV02", "write web-vm to HV-SRV02", "migrate"),
    (
        "Move-VMStorage SRV-APP01 -DestinationStoragePath E:\\VMs",
        "write /migrate storage SRV-APP01 to E:\\VMs",
        "migrate",
    ),
    (
        "SRV-APP01 to HV-SRV02 storage-path D:\\My VMs\\app reason x",
        "after storage-path 'D:\\My'; a path with spaces needs quotes: "
        'storage-path "D:\\My VMs\\app"',
        "migrate",
    ),
    ("SRV-APP01 to HV-SRV02 vm-path D:\\My VMs", 'vm-path "D:\\My VMs"', "migrate"),
    ("SRV-APP01 to HV-SRV02 vm-path D:\\x reasn y", "did you mean reason?", "migrate"),
    ("SRV-APP01 to HV-SRV02 include storage", "write include-storage as one word", "migrate"),
    (
        "SRV-APP01 to HV-SRV02 vm-path D:\\x storage path E:\\y",
        "write storage-path as one word",
        "migrate",
    ),
    ("storage SRV-APP01 vm path D:\\x", "write vm-path as one word", "storage"),
    ("host HV-SRV01 set max migrations 4", "write max-migrations as one word", "host"),
    (
        "storage SRV-APP01 to D:\\VMs\\Virtual Hard Disks",
        'to "D:\\VMs\\Virtual Hard Disks"',
        "storage",
    ),
    (
        "storage SRV-APP01 D:\\VMs",
        "missing 'to' before 'D:\\VMs': write storage SRV-APP01 to D:\\VMs",
        "storage",
    ),
    (
        "storage SRV-APP01 vhd C:\\ProgramData\\Virtual Hard Disks\\a.vhdx to E:\\a.vhdx",
        "after vhd 'C:\\ProgramData\\Virtual'; a path with spaces needs quotes: "
        'vhd "C:\\ProgramData\\Virtual Hard Disks\\a.vhdx"',
        "storage",
    ),
    (
        "storage SRV-APP01 vhd D:\\a.vhdx to E:\\My VMs\\a.vhdx vm-path E:\\x",
        'to "E:\\My VMs\\a.vhdx"',
        "storage",
    ),
    ("storage SRV-APP01 vhd D:\\a to E:\\a.vhdx", "not a virtual disk file", "storage"),
    ("storage SRV-APP01 vhd", "missing the disk path after vhd", "storage"),
    ("storage SRV-APP01 vhd D:\\a.vhdx to", "missing the destination file after 'to'", "storage"),
    ("storage SRV-APP01 \\\\nas\\vms", "write storage SRV-APP01 to \\\\nas\\vms", "storage"),
    ("status My App VM", 'needs quotes: status "My App VM"', "status"),
    ("diagnose My VM to HV-SRV02", 'needs quotes: diagnose "My VM" to HV-SRV02', "diagnose"),
    ("diagnose SRV-APP01 HV-SRV02", "write diagnose SRV-APP01 to HV-SRV02", "diagnose"),
    ("history SRV-APP01 5", "write last 5", "history"),
    ("history HV-SRV01 #20", "write last 20", "history"),
    ("history SRV-APP01 0", "unexpected '0'", "history"),
    ("host enable HV-SRV01", "name the host first: host HV-SRV01 enable", "host"),
    ("host set hv-srv01 auth kerberos", "host HV-SRV01 set auth kerberos", "host"),
    ("host HV-SRV01 set max-migrations=4", "a space, not '=': set max-migrations 4", "host"),
    ("host HV-SRV01 set auth=", "set auth <value>", "host"),
    ("host HV-SRV01 network add 10.0.50.0 /24", "without a space: add 10.0.50.0/24", "host"),
    (
        "host HV-SRV01 network remove 10.0.50.0 255.255.255.0",
        "remove 10.0.50.0/255.255.255.0",
        "host",
    ),
    ("delegation HV-SRV01 to HV-SRV02", "without 'to': delegation HV-SRV01 HV-SRV02", "delegation"),
    ("delegation HV-SRV01 and", "delegation HV-SRV01 <host>", "delegation"),
    ("*SRV-APP01* to HV-SRV02", "Slack formatting; write 'SRV-APP01' without the *", "migrate"),
    ("`SRV-APP01` to HV-SRV02", "without the `", "migrate"),
    ("`SRV*` to HV-SRV02", "wildcard", "migrate"),
    ("`x` to `HV-SRV02`", "write 'x' without the `", "migrate"),
    ("```SRV-APP01 to HV-SRV02```", "Slack code formatting", None),
    ("&gt; SRV-APP01 to HV-SRV02", "remove the '>' at the start", None),
    ("\u2022 SRV-APP01 to HV-SRV02", "remove the '\u2022' at the start", None),
    ("?", "not a subcommand; write help", None),
    ("-h", "not a subcommand; write help", None),
]


@pytest.mark.parametrize(
    ("text", "fragment", "form"), CASES + HINTS, ids=[c[0][:60] for c in CASES + HINTS]
)
def test_refusal(text: str, fragment: str, form: str | None) -> None:
    error = refusal(text)
    assert fragment in error.message
    assert error.usage == (GENERAL_USAGE if form is None else BY_NAME[form].usage)
    line = error.line()
    assert "\n" not in line
    assert line.startswith(error.message)
    assert line.endswith(error.usage)


# (a slip, the command its refusal suggests): the suggestion must itself be accepted.
SUGGESTED: list[tuple[str, str]] = [
    ("SRV-APP01 ot HV-SRV02", "SRV-APP01 to HV-SRV02"),
    ("/migrate SRV-APP01 hv-srv02.lab.local.", "SRV-APP01 to HV-SRV02"),
    ("My App VM to HV-SRV02 include-storage", '"My App VM" to HV-SRV02 include-storage'),
    ("move SRV-APP01 to HV-SRV02 reason x", "SRV-APP01 to HV-SRV02 reason x"),
    (
        "SRV-APP01 include-storage from HV-SRV01 to HV-SRV02 reason x",
        "SRV-APP01 to HV-SRV02 include-storage from HV-SRV01 reason x",
    ),
    ("SRV-APP01 and SRV-APP02 to HV-SRV02", "SRV-APP02 to HV-SRV02"),
    (
        "Move-VM -Name SRV-APP01 -DestinationHost hv-srv02 -IncludeStorage",
        "/migrate SRV-APP01 to HV-SRV02 include-storage",
    ),
    (
        'Move-VM "My VM" HV-SRV02 -DestinationStoragePath "D:\\My VMs"',
        '/migrate "My VM" to HV-SRV02 storage-path "D:\\My VMs"',
    ),
    (
        "Move-VMStorage SRV-APP01 -DestinationStoragePath E:\\VMs",
        "/migrate storage SRV-APP01 to E:\\VMs",
    ),
    ("storage SRV-APP01 D:\\VMs", "storage SRV-APP01 to D:\\VMs"),
    ("status My App VM", 'status "My App VM"'),
    ("diagnose My VM to HV-SRV02", 'diagnose "My VM" to HV-SRV02'),
    ("diagnose SRV-APP01 hv-srv02", "diagnose SRV-APP01 to HV-SRV02"),
    ("host set hv-srv01 auth kerberos", "host HV-SRV01 set auth kerberos"),
    ("host network HV-SRV01 add 10.0.0.0/8", "host HV-SRV01 network add 10.0.0.0/8"),
    ("delegation HV-SRV01 and HV-SRV02", "delegation HV-SRV01 HV-SRV02"),
    ("```SRV-APP01 to HV-SRV02 reason x```", "/migrate SRV-APP01 to HV-SRV02 reason x"),
    ("`status #42`", "/migrate status #42"),
    ('&gt; "My VM" to HV-SRV02', '/migrate "My VM" to HV-SRV02'),
    ("- SRV-APP01 to HV-SRV02", "/migrate SRV-APP01 to HV-SRV02"),
    ("drain HV-SRV01 hv-srv02 include-storage", "drain HV-SRV01 to HV-SRV02"),
]


@pytest.mark.parametrize(("text", "suggestion"), SUGGESTED, ids=[s[0][:60] for s in SUGGESTED])
def test_suggested_command_is_accepted(text: str, suggestion: str) -> None:
    assert suggestion in refusal(text).message
    ok(suggestion)


def test_refusals_show_invisible_characters_escaped() -> None:
    line = refusal("SRV-APP\u202e10 to HV-SRV02").line()
    assert "\u202e" not in line
    assert "'SRV-APP\\u202e10'" in line


def test_a_reason_keeps_invisible_characters_but_shows_them_escaped() -> None:
    request = ok('SRV-APP01 to HV-SRV02 reason "patch \u202eevil\u200c"')
    assert isinstance(request, MigrateRequest)
    assert request.move.reason == "patch \\u202eevil\\u200c"


def test_megabytes_of_text_are_refused_before_parsing() -> None:
    error = refusal("SRV-APP01 to HV-SRV02 reason " + "x " * 2_500_000)
    assert "5000029 characters long" in error.message
