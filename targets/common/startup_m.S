/*
 * Reset and exception entry for the ARMv7-M / ARMv8.1-M targets (Cortex-M4, M7, M55).
 *
 * Why assembly: the FPU (and on the M55 the MVE/Helium unit, which shares the CP10/CP11
 * enable) must be switched on before any compiled C runs, because GCC may use FP or vector
 * registers anywhere, even in the .data copy loop. Everything after that is plain C in
 * crt_m.c, which is easier to read and to keep -Wall -Wextra -Werror clean.
 *
 * Symbols from the linker script (link.ld / sections_m.ld):
 *   __stack_top, __stack_limit   initial MSP and the lowest legal stack address
 *   __data_load, __data_start, __data_end   .data image in "flash" and its place in SRAM
 *   __bss_start, __bss_end       zero-initialised data
 */
    .syntax unified
    .thumb

/* ---- vector table: the core reads SP and PC from here at reset (VTOR resets to 0) ---- */
    .section .vectors, "a", %progbits
    .align 7                        /* VTOR needs 128-byte alignment for 16..32 entries */
    .global __vectors
__vectors:
    .word __stack_top               /*  0: initial main stack pointer */
    .word Reset_Handler             /*  1: reset */
    .rept 14                        /*  2..15: NMI, HardFault, MemManage, BusFault, UsageFault,
                                       SecureFault, reserved, SVCall, DebugMon, reserved,
                                       PendSV, SysTick: nothing is enabled, so any of them
                                       means a bug; report it instead of hanging */
    .word Fault_Handler
    .endr
    .rept 16                        /* 16..31: the first external interrupts, same reason */
    .word Fault_Handler
    .endr

    .text

/* ---- reset: FPU/MVE on, .data copied, .bss zeroed, then C ---- */
    .thumb_func
    .global Reset_Handler
    .type Reset_Handler, %function
Reset_Handler:
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* CPACR (0xE000ED88): full access for CP10 and CP11 (bits 20..23) = FPU and MVE */
    ldr     r0, =0xE000ED88
    ldr     r1, [r0]
    orr     r1, r1, #(0xF << 20)
    str     r1, [r0]
    dsb                             /* the write must complete ... */
    isb                             /* ... and later instructions must see it */
#endif
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
    /* ARMv8-M has a hardware stack limit: an overflow becomes a fault, not silent corruption */
    ldr     r0, =__stack_limit
    msr     msplim, r0
#endif

    /* copy .data from its load address ("flash") to SRAM, word by word */
    ldr     r0, =__data_load
    ldr     r1, =__data_start
    ldr     r2, =__data_end
1:  cmp     r1, r2
    bhs     2f
    ldr     r3, [r0], #4
    str     r3, [r1], #4
    b       1b
2:
    /* zero .bss */
    ldr     r1, =__bss_start
    ldr     r2, =__bss_end
    movs    r3, #0
3:  cmp     r1, r2
    bhs     4f
    str     r3, [r1], #4
    b       3b
4:
    bl      mbmicro_crt_start       /* never returns: it exits through semihosting */
    b       .
    .size Reset_Handler, . - Reset_Handler

/* ---- every other exception: pass the stacked frame and the exception number to C ---- */
    .thumb_func
    .global Fault_Handler
    .type Fault_Handler, %function
Fault_Handler:
    tst     lr, #4                  /* EXC_RETURN bit 2: which stack holds the frame */
    ite     eq
    mrseq   r0, msp
    mrsne   r0, psp
    mrs     r1, ipsr                /* exception number */
    b       mbmicro_crt_fault
    .size Fault_Handler, . - Fault_Handler

    .pool
