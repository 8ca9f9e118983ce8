"""Intel AMX for one process: whether the CPU has it, and denying it to the process.

XNNPACK (LiteRT's CPU delegate) asks Linux for AMX with ``arch_prctl(ARCH_REQ_XCOMP_PERM)``
and, when granted, runs int8 convolutions with its AMX kernels (tiles 16 rows x 64 output
channels). For a narrow model such as the shipped MobileNetV2 x0.5 (8-160 channels per layer)
those tiles are mostly padding: on an AMX Xeon the shipped int8 TFLite model ran 1.02 ms per
call with AMX and 0.66 ms with the AVX-512 VNNI kernels XNNPACK picks when the request is
refused (benchmarks/accuracy.md, issue 18). ``deny_amx`` makes the kernel refuse it for this
process and its children, so ``edgemark bench --no-amx`` can measure both.

The refusal is a seccomp filter: eight classic-BPF instructions that return EPERM for that
one ``arch_prctl`` request and allow every other system call. Written here with ctypes rather
than through libseccomp's bindings, which would add a C library to every device for this one
rule. A filter cannot be removed: call it in a process made for the purpose (a bench worker).
"""

from __future__ import annotations

import ctypes
import errno
import platform
import sys

ARCH_REQ_XCOMP_PERM = 0x1023  # arch/x86/include/uapi/asm/prctl.h
XFEATURE_XTILEDATA = 18
SYS_ARCH_PRCTL = 158  # x86_64
AUDIT_ARCH_X86_64 = 0xC000003E
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06
# struct seccomp_data: int nr (offset 0), u32 arch (4), u64 instruction_pointer (8), u64 args[6] (16)
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0_LOW = 0, 4, 16


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def is_supported() -> bool:
    """deny_amx works here: Linux on x86_64 (AMX exists on no other architecture)."""
    return sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64")


def cpu_has_amx() -> bool:
    """The CPU reports AMX int8 (/proc/cpuinfo flag amx_int8): Sapphire Rapids and later Xeons."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return "amx_int8" in line.split()
    except OSError:
        pass
    return False


def refusable() -> bool:
    """There is AMX here to refuse: the CPU has it and deny_amx works (x86_64 Linux)."""
    return is_supported() and cpu_has_amx()


def _filter_program() -> list[tuple[int, int, int, int]]:
    """(code, jump if true, jump if false, k): refuse arch_prctl(ARCH_REQ_XCOMP_PERM, ...)."""
    allow = 7  # index of the last instruction; a jump's offset counts from the next one
    return [
        (BPF_LD_W_ABS, 0, 0, OFFSET_ARCH),
        (BPF_JEQ_K, 0, allow - 2, AUDIT_ARCH_X86_64),
        (BPF_LD_W_ABS, 0, 0, OFFSET_NR),
        (BPF_JEQ_K, 0, allow - 4, SYS_ARCH_PRCTL),
        (BPF_LD_W_ABS, 0, 0, OFFSET_ARG0_LOW),
        (BPF_JEQ_K, 0, allow - 6, ARCH_REQ_XCOMP_PERM),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]


def deny_amx() -> None:
    """Refuse AMX to this process and every process it starts, from now on; call it before
    any runtime initialises (XNNPACK asks once per process). Raises OSError where the kernel
    will not install the filter, RuntimeError off x86_64 Linux."""
    if not is_supported():
        raise RuntimeError(f"denying AMX needs Linux on x86_64, not {sys.platform} on {platform.machine()}")
    program = _filter_program()
    filters = (_SockFilter * len(program))(*[_SockFilter(*ins) for ins in program])
    fprog = _SockFprog(len(program), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {errno.errorcode.get(err, err)}")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.cast(ctypes.byref(fprog), ctypes.c_void_p), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_SECCOMP): {errno.errorcode.get(err, err)}")


def request_amx() -> int:
    """Ask for AMX as XNNPACK does: 0 when granted, else the errno (EPERM once denied,
    EINVAL or EOPNOTSUPP on a CPU or kernel without it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    done = libc.syscall(ctypes.c_long(SYS_ARCH_PRCTL), ctypes.c_long(ARCH_REQ_XCOMP_PERM), ctypes.c_long(XFEATURE_XTILEDATA))
    return 0 if done == 0 else ctypes.get_errno()
