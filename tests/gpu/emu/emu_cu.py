#!/usr/bin/env python3
"""emu_cu.py IN.cu OUT.cc - rewrites CUDA kernel launches for the host
emulation (tests/gpu/emu): `k<<<g, b, s, st>>>(args);` becomes
`emu_launch(g, b, s, st, [=]() { k(args); });`.  Everything else is kept."""
import re
import sys

LAUNCH = re.compile(r'([A-Za-z_]\w*(?:<[^<>;]*>)?)<<<(.*?)>>>\((.*?)\);', re.S)


def main():
    src = open(sys.argv[1]).read()
    out, n = LAUNCH.subn(lambda m: 'emu_launch(%s, [=]() { %s(%s); });' % (m.group(2), m.group(1), m.group(3)), src)
    if '<<<' in out:
        sys.exit('emu_cu.py: a launch was not rewritten in %s' % sys.argv[1])
    open(sys.argv[2], 'w').write('#include "emu_device.h"\n#line 1 "%s"\n' % sys.argv[1] + out)
    print('%s: %d launches' % (sys.argv[1], n))


main()
