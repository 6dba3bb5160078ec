# kernels/*.cu -> C++ for the CPU emulation: each `k<<<grid, block, smem, s>>>(args);` becomes
# { auto a0 = (arg0); ...; emu_launch(grid, block, smem, s, [=] { k(a0, ...); }); }: the
# arguments are evaluated at the launch, as CUDA does, and kept by value, since the kernel
# runs later, at a synchronisation point (emu.h); common.cuh includes emu.h. Grid caps shrink
# (the kernels' grid-stride loops cover any grid) so that emulation stays fast.
# Usage: transform.py KERNEL_DIR OUT_DIR
import re, sys, os
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)

def split_top(s):
    out, depth, cur = [], 0, ''
    for ch in s:
        if ch in '([{': depth += 1
        if ch in ')]}': depth -= 1
        if ch == ',' and depth == 0:
            out.append(cur.strip()); cur = ''
        else:
            cur += ch
    out.append(cur.strip())
    return out

launch = re.compile(r'(\w+)\s*<<<(.*?)>>>\s*\((.*?)\);', re.S)
def repl(m):
    k, cfg, args = m.group(1), split_top(m.group(2)), split_top(m.group(3))
    cfg += ['0', '0'][len(cfg) - 2:]
    vals = ''.join('auto emu_a%d = (%s); ' % (i, a) for i, a in enumerate(args))
    names = ', '.join('emu_a%d' % i for i in range(len(args)))
    return '{ %semu_launch(dim3(%s), dim3(%s), %s, %s, [=] { %s(%s); }); }' % (
        vals, cfg[0], cfg[1], cfg[2], cfg[3], k, names)

for f in os.listdir(src):
    p = os.path.join(src, f)
    s = open(p).read()
    if f == 'common.cuh':
        s = s.replace('#include <cuda_runtime.h>', '#include "emu.h"')
        s = s.replace('const size_t cap = 8192;', 'const size_t cap = 24;')  # fewer blocks: faster emulation
        s = s.replace('size_t by = planes < 65535 ? planes : 65535;', 'size_t by = planes < 40 ? planes : 40;')
        s = s.replace('if (bx > 64) bx = 64;', 'if (bx > 4) bx = 4;')
        open(os.path.join(dst, f), 'w').write(s)
    elif f.endswith('.cu'):
        s2 = launch.sub(repl, s)
        s2 = s2.replace('b > 65535 ? 65535 : b', 'b > 40 ? 40 : b')  # warp-per-plane grids
        open(os.path.join(dst, f[:-3] + '.cpp'), 'w').write(s2)
    elif f.endswith('.h'):
        open(os.path.join(dst, f), 'w').write(s)
