"""The kernel hands a REGISTER to the SIP worker that owns its extension.

Why: with several SIP workers on one UDP port (SO_REUSEPORT) the kernel picks a
worker's socket by the datagram's source address, so about half of all REGISTERs
arrive at a worker that does not own their extension, and that worker passes them on
over a private link (``pbx.cluster.steering``): a read of the To header, a message
each way, a wake-up of the other process and one more queue. A classic BPF program
attached to the port's reuseport group (``SO_ATTACH_REUSEPORT_CBPF``) reads the To
user of a REGISTER in the usual shape and returns the index of the owner's socket,
computing the hash ``pbx.sip.steering.owner`` computes.

It is a hint, not a rule. What the program does not read (another method, a To in
another shape or far into the datagram, an escaped or long user) it returns as
``NO_CHOICE``, and the kernel falls back to its source-address hash. The workers'
own steering still checks every REGISTER and passes on whatever arrived at the wrong
worker, so a wrong pick costs one pass, never a wrong answer.

Classic BPF has no loops (jumps go forward only), so the scans are unrolled, one
block per byte offset, within the kernel's limit of 4,096 instructions. A load past
the end of the datagram would end the program with 0 (the first socket), so every
block of loads is preceded by a length check. The socket index is the order in
which the sockets joined the group: ``bind_all`` binds worker 0's socket first, and
the sockets stay bound while the service runs (a worker that exits stops it).
"""

from __future__ import annotations

import ctypes
import socket
import struct
from dataclasses import dataclass, field

from pbx.sip.steering import OWNER_MULTIPLIER

#: ``SO_ATTACH_REUSEPORT_CBPF`` from <asm-generic/socket.h> (Linux 4.5+; not in Python's
#: socket module).
SO_ATTACH_REUSEPORT_CBPF = 51

#: Returned for what the program does not read: any index past the last socket makes
#: the kernel use its source-address hash instead.
NO_CHOICE = 0xFFFFFFFF

#: The kernel's limit on a classic BPF program (BPF_MAXINSNS).
MAX_INSTRUCTIONS = 4096

#: Where the scan for the To header starts and stops (the byte offset of its "\n").
#: The vendors' REGISTERs in ../shared/phones have it between 40 and 506.
TO_SCAN_START = 12
TO_SCAN_END = 560
#: Bytes after "To:" searched for "sip:", which starts the URI (room for a display name).
SIP_WINDOW = 64
#: The longest user read; a longer one is left to the workers' steering.
USER_MAX = 24
#: Bytes after the ':' of "To:" the datagram must still have for the URI and user reads.
TAIL_NEEDED = SIP_WINDOW + 3 + USER_MAX + 1
#: Offsets scanned for the To header between two length checks.
SCAN_CHUNK = 32

# Classic BPF opcodes (<linux/filter.h>).
_LD_W_ABS, _LD_W_IND, _LD_B_IND = 0x20, 0x40, 0x50
_LD_LEN, _LD_IMM, _LD_MEM = 0x80, 0x00, 0x60
_LDX_IMM, _LDX_MEM, _ST, _STX = 0x01, 0x61, 0x02, 0x03
_ALU_ADD_K, _ALU_SUB_X, _ALU_MUL_K, _ALU_ADD_X = 0x04, 0x1C, 0x24, 0x0C
_ALU_OR_K, _ALU_MOD_K = 0x44, 0x94
_JA, _JEQ_K, _JGT_K, _JGE_K = 0x05, 0x15, 0x25, 0x35
_RET_K, _RET_A, _TAX, _TXA = 0x06, 0x16, 0x07, 0x87

#: One instruction: (code, jump if true, jump if false, k).
Instruction = tuple[int, int, int, int]

#: Bytes that end a user the program can hash; the To is then left to the workers.
_NOT_IN_USER = b':;>%?,"<'


def _word(text: bytes) -> int:
    return int(struct.unpack(">I", text)[0])


@dataclass
class _Assembler:
    """Instructions with forward jumps to named labels, resolved at the end:
    conditional jumps reach 255 instructions, ``jump`` (``ja``) any distance."""

    code: list[tuple[int, str | int, str | int, int | str]] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)

    def op(self, code: int, k: int = 0, jt: str | int = 0, jf: str | int = 0) -> None:
        self.code.append((code, jt, jf, k))

    def jump(self, label: str) -> None:
        self.code.append((_JA, 0, 0, label))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def resolve(self) -> list[Instruction]:
        return [
            (code, self._near(at, jt), self._near(at, jf), self._far(at, k))
            for at, (code, jt, jf, k) in enumerate(self.code)
        ]

    def _far(self, at: int, k: int | str) -> int:
        return k if isinstance(k, int) else self.labels[k] - at - 1

    def _near(self, at: int, target: str | int) -> int:
        offset = self._far(at, target)
        if not 0 <= offset <= 255:
            raise ValueError(f"conditional jump to {target} out of reach ({offset})")
        return offset


def steering_program(workers: int, no_choice: int = NO_CHOICE) -> list[Instruction]:
    """The program for ``workers`` sockets: the owner's index for a REGISTER whose To
    reads ``To: [name] <sip:USER@...`` (any case of "To"), ``no_choice`` otherwise.

    ``no_choice`` is a parameter so that a test can attach the program to one socket
    more than ``workers`` and see exactly which datagrams it did not read.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    asm = _Assembler()

    def give_up() -> None:
        asm.op(_RET_K, no_choice)

    # A REGISTER, long enough to hold a To.
    asm.op(_LD_LEN)
    asm.op(_JGE_K, TO_SCAN_START + 4, jt=1, jf=0)
    give_up()
    asm.op(_LD_W_ABS, 0)
    asm.op(_JEQ_K, _word(b"REGI"), jt=1, jf=0)
    give_up()
    asm.op(_LD_W_ABS, 4)
    asm.op(_JEQ_K, _word(b"STER"), jt=1, jf=0)
    give_up()

    # The first "\nTo:" (any case): X = the offset after its ':'.
    for at in range(TO_SCAN_START, TO_SCAN_END):
        if (at - TO_SCAN_START) % SCAN_CHUNK == 0:
            asm.op(_LD_LEN)
            asm.op(_JGE_K, at + SCAN_CHUNK + 3, jt=1, jf=0)
            give_up()
        asm.op(_LD_W_ABS, at)
        asm.op(_ALU_OR_K, 0x00202000)  # 'T' -> 't', 'O' -> 'o'
        asm.op(_JEQ_K, _word(b"\nto:"), jt=0, jf=2)
        asm.op(_LDX_IMM, at + 4)
        asm.jump("uri")
    give_up()

    # "sip:" within SIP_WINDOW bytes: X = the offset of the user's first byte.
    asm.label("uri")
    asm.op(_LD_LEN)
    asm.op(_ALU_SUB_X)
    asm.op(_JGE_K, TAIL_NEEDED, jt=1, jf=0)
    give_up()
    for k in range(SIP_WINDOW):
        asm.op(_LD_W_IND, k)
        asm.op(_JEQ_K, _word(b"sip:"), jt=0, jf=4)
        asm.op(_TXA)
        asm.op(_ALU_ADD_K, k + 4)
        asm.op(_TAX)
        asm.jump("user")
    give_up()

    # The user up to '@': M[0] = h * 31 + byte, M[1] = where the user starts.
    asm.label("user")
    asm.op(_STX, 1)
    asm.op(_LD_IMM, 0)
    asm.op(_ST, 0)
    for j in range(USER_MAX):
        bad = f"bad{j}"
        asm.op(_LD_B_IND, j)
        if j == 0:
            asm.op(_JEQ_K, ord("@"), jt=bad, jf=0)  # no user
        else:
            asm.op(_JEQ_K, ord("@"), jt=0, jf=1)
            asm.jump("done")
        asm.op(_JGT_K, 0x7E, jt=bad, jf=0)  # not ASCII
        asm.op(_JGE_K, 0x21, jt=0, jf=bad)  # a space or a control byte
        for byte in _NOT_IN_USER:
            asm.op(_JEQ_K, byte, jt=bad, jf=0)
        asm.op(_TAX)
        asm.op(_LD_MEM, 0)
        asm.op(_ALU_MUL_K, OWNER_MULTIPLIER)
        asm.op(_ALU_ADD_X)
        asm.op(_ST, 0)
        asm.op(_LDX_MEM, 1)
        asm.op(_JA, 1)
        asm.label(bad)
        give_up()
    asm.op(_LD_B_IND, USER_MAX)  # a user of USER_MAX bytes ends here
    asm.op(_JEQ_K, ord("@"), jt=0, jf=1)
    asm.jump("done")
    give_up()  # longer than USER_MAX

    asm.label("done")
    asm.op(_LD_MEM, 0)
    asm.op(_ALU_MOD_K, workers)
    asm.op(_RET_A)

    program = asm.resolve()
    if len(program) > MAX_INSTRUCTIONS:
        raise ValueError(f"{len(program)} instructions, the kernel takes {MAX_INSTRUCTIONS}")
    return program


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def attach(sock: socket.socket, program: list[Instruction]) -> None:
    """Attach ``program`` to the reuseport group of ``sock`` (every socket bound to
    its address with SO_REUSEPORT). Raises OSError when the kernel refuses it."""
    filters = (_SockFilter * len(program))(*(_SockFilter(c, t, f, k) for c, t, f, k in program))
    fprog = _SockFprog(len(program), ctypes.cast(filters, ctypes.POINTER(_SockFilter)))
    # The kernel copies the program during the call; ``filters`` outlives it.
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, bytes(fprog))
