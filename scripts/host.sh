#!/usr/bin/env bash
# One line naming the machine a measurement ran on (every benchmark says which CPU and ISA ran
# it): the CPU's model name with its x86 family and model — two AMD EPYC kinds both report
# "AMD EPYC" (Zen 1 is family 23 model 1, Zen 3 family 25 model 1, and Zen 1 runs each 256-bit
# operation as two halves) — the cores, the vector extensions the CPU reports, the load
# average and, given a glassbox binary, the instruction set its kernels chose (`--version`).
#
#   scripts/host.sh [GLASSBOX_BIN]
field() { grep -m1 "^$1[[:space:]]*:" /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//'; }
flags=$(grep -m1 -o -w -E 'avx512f|avx2|fma' /proc/cpuinfo 2>/dev/null | sort -u | paste -sd' ')
line="# host: $(field 'model name') (family $(field 'cpu family'), model $(field model)), $(nproc) cores"
line="$line, CPU flags: ${flags:-none of avx2 fma avx512f}; load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "${1:-}" ] && [ -x "$1" ]; then
  line="$line; $("$1" --version 2>/dev/null)"
fi
echo "$line"
