/*
 * Instruction classes for the estimated cycle count (qemu_insn_count.c, mix= option).
 *
 * Why classes and not cycles: QEMU has no timing model, but it tells the plugin each
 * instruction's text at translation time. Counting executed instructions per class and
 * weighting each class with a per-core cycles-per-class table (targets/<core>/cycles.json)
 * gives an estimate that, unlike the plain instruction count, charges a Helium
 * instruction its beats and an M4 load its two cycles.
 *
 * The order of this enum is the order of the numbers in the plugin's "mix" lines and of
 * insn_class_names; mbmicro/sim/cycles.py reads the names from the report's "classes" line.
 */
#ifndef MBMICRO_INSN_CLASS_H
#define MBMICRO_INSN_CLASS_H

#include <stddef.h>
#include <stdint.h>

enum insn_class {
    INSN_ALU,        /* integer data processing, moves, compares, shifts, extends, saturation, IT */
    INSN_MUL,        /* scalar multiply and multiply-accumulate (MUL, MLA, SMULL, SMLAL, SMMUL, MADD...) */
    INSN_DIV,        /* SDIV / UDIV */
    INSN_DSP,        /* packed 8/16-bit SIMD of the DSP extension (SMLAD, SXTB16, SADD16, PKHBT, SEL...) */
    INSN_LOAD,       /* scalar loads, LDM / POP, scalar FP loads */
    INSN_STORE,      /* scalar stores, STM / PUSH, scalar FP stores */
    INSN_BRANCH,     /* branches, calls, returns, compare-and-branch, low-overhead loop instructions */
    INSN_FP,         /* scalar floating point (VFP on M-profile, F* on AArch64) */
    INSN_VECTOR,     /* Helium (MVE) and NEON data processing on vector registers */
    INSN_VECTOR_MEM, /* Helium (MVE) and NEON loads and stores of vector registers */
    INSN_OTHER,      /* hints, barriers, system, preload, anything the disassembler could not name */
    INSN_CLASSES
};

extern const char *const insn_class_names[INSN_CLASSES];

/*
 * Class of one instruction from its disassembly (as qemu_plugin_insn_disas gives it) and
 * its bytes (used only where QEMU 7.2's disassembler, Capstone 4, cannot name Helium
 * instructions: it prints them as ".byte ..." or as LDC/STC of coprocessor 14/15).
 * a64: the guest is AArch64 (else Thumb/ARM).
 */
enum insn_class insn_classify(const char *disas, const uint8_t *bytes, size_t size, int a64);

/*
 * Registers moved beyond the first by a multi-register transfer (LDM/STM/PUSH/POP,
 * VLDM/VSTM/VPUSH/VPOP, LDRD/STRD): cores spend about a cycle per extra register.
 */
unsigned insn_extra_registers(const char *disas, int a64);

#endif /* MBMICRO_INSN_CLASS_H */
